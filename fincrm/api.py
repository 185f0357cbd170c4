"""The REST API under /api/v1: one NinjaAPI, each app contributing its router."""

from fincrm.platform.api import build_api

api = build_api()
