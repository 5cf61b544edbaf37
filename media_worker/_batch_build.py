"""Builds the batch fan-out's compiled half (``media_worker/fanout.c``) into
``media_worker/_batch*.so`` with cffi's out-of-line API mode: ``python media_worker/_batch_build.py``
(``make native``; the worker's image runs it in its build stage). Nothing is linked but libc:
libsrtp is pylibsrtp's own, reached through a function pointer (``media_worker/batch.py``).

Up to date (the module newer than its sources) it does nothing; ``--force`` builds anyway.
The C file cffi generates and the objects stay in a temporary directory."""

from __future__ import annotations

import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "fanout.c"
MODULE = "media_worker._batch"
TARGET = HERE / f"_batch{sysconfig.get_config_var('EXT_SUFFIX')}"

# What Python calls; the layout of the stats is checked against fanout.c's by the compiler ("...").
DECLARATIONS = """
struct fanout_stats {
    uint64_t sent;
    uint64_t octets;
    uint64_t errors;
    uint32_t last_timestamp;
    double last_sent_at;
    int last_error;
    int seq;
    ...;
};
struct fanout;
#define FANOUT_PAYLOAD_MAX ...
struct fanout *fanout_new(uintptr_t srtp_protect);
void fanout_free(struct fanout *f);
int fanout_len(struct fanout *f);
int fanout_add(struct fanout *f, uintptr_t srtp, int fd, const char *addr, int addrlen, uint32_t ssrc,
               int payload_type, int seq, uint32_t ts_offset);
int fanout_update(struct fanout *f, int id, uintptr_t srtp, int fd, const char *addr, int addrlen);
int fanout_remove(struct fanout *f, int id);
int fanout_stats(struct fanout *f, int id, struct fanout_stats *out);
int fanout_send(struct fanout *f, const unsigned char *payload, int payload_len, int64_t pts);
"""


def builder() -> FFI:
    ffibuilder = FFI()
    ffibuilder.cdef(DECLARATIONS)
    ffibuilder.set_source(MODULE, SOURCE.read_text(), extra_compile_args=["-O2", "-Wall"])
    return ffibuilder


def up_to_date() -> bool:
    return TARGET.exists() and TARGET.stat().st_mtime > max(SOURCE.stat().st_mtime, Path(__file__).stat().st_mtime)


def build() -> Path:
    with tempfile.TemporaryDirectory(prefix="parlor-batch-") as tmp:
        built = Path(builder().compile(tmpdir=tmp))
        shutil.copyfile(built, TARGET.with_suffix(".tmp"))
        TARGET.with_suffix(".tmp").replace(TARGET)  # a running worker's mapped copy is left alone
    return TARGET


if __name__ == "__main__":
    if "--force" in sys.argv[1:] or not up_to_date():
        print(f"built {build().relative_to(HERE.parent)}")
