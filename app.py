"""Parlor's Chalice app: created here, every route lives in a blueprint in chalicelib.api."""

from chalice import Chalice

from chalicelib.api import BLUEPRINTS

app = Chalice(app_name="parlor")
# Chalice still labels its WebSocket support experimental; Parlor's realtime channel uses it.
app.experimental_feature_flags.update(["WEBSOCKETS"])
for blueprint in BLUEPRINTS:
    app.register_blueprint(blueprint)
