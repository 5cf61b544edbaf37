"""Structured JSON logs (AWS Lambda Powertools), one logger for the whole service."""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="parlor")
