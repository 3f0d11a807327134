"""Powertools Logger, Tracer and Metrics, created once per container and shared by every module.

Service name, namespace and log level come from the POWERTOOLS_* variables the template sets.
"""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

# Most requests add no metric; an empty flush is expected, not worth a warning per invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger()
tracer = Tracer()
metrics = Metrics()
