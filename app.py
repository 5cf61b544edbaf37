"""Parlor's Chalice app: created here, every route lives in a blueprint in chalicelib.api."""

from chalice import Chalice

from chalicelib.api import BLUEPRINTS

app = Chalice(app_name="parlor")
for blueprint in BLUEPRINTS:
    app.register_blueprint(blueprint)
