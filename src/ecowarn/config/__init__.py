"""Configuration: settings, the device registry, the metric catalog and the packaged data files.

The YAML files beside this module (``rules.yaml``, ``credit.yaml``, ``warnings.yaml``,
``registry.example.yaml``) ship as package data; :func:`packaged_file` finds them in an
installed package as well as in a checkout.
"""

from ecowarn.config._files import packaged_file

__all__ = ["packaged_file"]
