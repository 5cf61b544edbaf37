"""Parlor's Chalice app: created here, every route lives in a blueprint in chalicelib.api."""

from chalice import Chalice

from chalicelib.api import BLUEPRINTS, realtime

app = Chalice(app_name="parlor")
# Chalice still labels its WebSocket support experimental; Parlor's realtime channel uses it.
app.experimental_feature_flags.update(["WEBSOCKETS"])
for blueprint in BLUEPRINTS:
    app.register_blueprint(blueprint)

# WebSocket handlers must be registered on the app and be attributes of this module.
websocket_connect = app.on_ws_connect()(realtime.websocket_connect)
websocket_message = app.on_ws_message()(realtime.websocket_message)
websocket_disconnect = app.on_ws_disconnect()(realtime.websocket_disconnect)
