"""Parlor's media worker: one aiortc process per live space.

It never imports ``chalicelib``: it talks to the API only through tokens the API signs,
the signed ``/control`` endpoint, the signed ``speaking`` callback and the heartbeat record,
all spelled in ``parlor_contract``, the one package both sides import.
"""
