"""Parlor's Chalice app, built from this environment's settings; every route and handler
lives in chalicelib."""

from chalicelib.api import create_app
from chalicelib.settings import get_settings

app = create_app(get_settings())

# Lambda calls each handler that is not an HTTP route by its name in this module (Chalice
# names them "app.<function>"); tests/api/test_edge.py checks that every one is here.
websocket_connect = app.handler_map["websocket_connect"]
websocket_message = app.handler_map["websocket_message"]
websocket_disconnect = app.handler_map["websocket_disconnect"]
realtime_fanout = app.handler_map["realtime_fanout"]
end_unattended_spaces = app.handler_map["end_unattended_spaces"]
send_due_reminders = app.handler_map["send_due_reminders"]
sweep_refunds = app.handler_map["sweep_refunds"]
notification_jobs = app.handler_map["notification_jobs"]
refund_jobs = app.handler_map["refund_jobs"]
reconcile_checkouts = app.handler_map["reconcile_checkouts"]
media_task_stopped = app.handler_map["media_task_stopped"]
keep_media_pool_warm = app.handler_map["keep_media_pool_warm"]
