"""Create every table (and, as they come, queues and topics) in a fresh moto server."""

from __future__ import annotations

import logging

from chalicelib.models.tables import create_all_tables

log = logging.getLogger("parlor.local")


def main() -> None:
    created = create_all_tables(wait=True)
    log.info("created tables: %s", ", ".join(created) or "none (already there)")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="[local] %(message)s")
    log.setLevel(logging.INFO)
    main()
