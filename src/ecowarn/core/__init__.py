"""The ground floor: helpers every other subpackage may use and that import nothing of ecowarn.

- :mod:`ecowarn.core.logs`: the process's log format (service, runner child, commands);
- :mod:`ecowarn.core.aio`: backoff, periodic workers, bounded shutdown of tasks;
- :mod:`ecowarn.core.mqtturl`: the one parser of broker URLs;
- :mod:`ecowarn.core.timeutil`: evaluation windows and epoch-second conversions.
"""
