from ecowarn.cli import main

raise SystemExit(main())
