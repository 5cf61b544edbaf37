/* The batch fan-out (media_worker/batch.py): one call sends the room's encoded packet to
 * every listener. Per listener it writes the RTP header before the payload, protects the
 * packet with that listener's own SRTP session and queues it; each run of listeners on the
 * same socket then goes to the kernel in one sendmmsg (at most 1024 packets, UIO_MAXIOV).
 *
 * libsrtp is not linked here: srtp_protect is pylibsrtp's own (its address comes from its
 * cffi binding), and each session is the srtp_t aiortc's DTLS transport keyed. So the bytes
 * are pylibsrtp's by construction, and the rollover counter and replay state stay the ones
 * aiortc's session keeps (its RTCP goes on through the same session).
 *
 * Real-time audio: a packet the kernel refuses is dropped and counted, never retried, and the
 * sockets are never waited on (MSG_DONTWAIT). One thread uses a fanout: the one owning the
 * sessions (aiortc's event loop); libsrtp sessions are not thread-safe either. */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sendmmsg */
#endif
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define RTP_HEADER_LEN 12
#define SRTP_MAX_TRAILER_LEN (16 + 128) /* libsrtp 2: SRTP_MAX_TAG_LEN + SRTP_MAX_MKI_LEN */
#define FANOUT_PACKET_MAX 1500          /* pylibsrtp's own buffer: the same payloads fit */
#define FANOUT_PAYLOAD_MAX (FANOUT_PACKET_MAX - SRTP_MAX_TRAILER_LEN - RTP_HEADER_LEN)
#define CHUNK 1024 /* UIO_MAXIOV: the most packets one sendmmsg takes */

struct fanout_stats { /* a listener's sender-report counts (RFC 3550 6.4.1), and what went wrong */
    uint64_t sent;              /* packets the kernel took */
    uint64_t octets;            /* their payload octets */
    uint64_t errors;            /* packets dropped: refused by the kernel, or not protected */
    uint32_t last_timestamp;    /* the last packet taken: its RTP timestamp... */
    double last_sent_at;        /* ...and when (CLOCK_MONOTONIC seconds, time.monotonic's clock) */
    int last_error;             /* errno of the last refusal; minus libsrtp's status if protecting failed */
    int seq;                    /* the sequence number of the last packet (sent or dropped) */
};

typedef int (*srtp_protect_fn)(void *session, void *packet, int *len);

struct slot {
    void *srtp;
    int fd;
    socklen_t addrlen;
    struct sockaddr_storage addr;
    uint32_t ssrc;
    uint32_t ts_offset;
    uint16_t seq; /* the last one sent; the next packet carries seq + 1 */
    uint8_t payload_type;
    uint32_t queued_timestamp; /* the timestamp of the packet waiting in the chunk */
    struct fanout_stats stats;
};

struct fanout {
    srtp_protect_fn protect;
    /* Listeners packed at the front (a batch walks no holes); ids stay put for Python:
     * index_of[id] is where a listener is, id_of[index] whose slot that is. */
    struct slot *slots;
    int *id_of;
    int *index_of; /* -1: a free id */
    int count, capacity;
    int next_start; /* where the next batch starts: a full socket buffer drops the tail, so it moves */
    unsigned char *packets; /* CHUNK buffers of FANOUT_PACKET_MAX, one per packet in flight */
    struct mmsghdr msgs[CHUNK];
    struct iovec iovs[CHUNK];
    int msg_slot[CHUNK];
};

struct fanout *fanout_new(uintptr_t srtp_protect) {
    struct fanout *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->protect = (srtp_protect_fn)srtp_protect;
    f->packets = aligned_alloc(64, (size_t)CHUNK * FANOUT_PACKET_MAX);
    if (f->packets == NULL) {
        free(f);
        return NULL;
    }
    return f;
}

void fanout_free(struct fanout *f) {
    if (f == NULL)
        return;
    free(f->packets);
    free(f->slots);
    free(f->id_of);
    free(f->index_of);
    free(f);
}

int fanout_len(struct fanout *f) { return f->count; }

static int grow(struct fanout *f) {
    int capacity = f->capacity ? f->capacity * 2 : 16;
    struct slot *slots = realloc(f->slots, sizeof(*slots) * capacity);
    if (slots == NULL)
        return -1;
    f->slots = slots;
    int *id_of = realloc(f->id_of, sizeof(int) * capacity);
    if (id_of == NULL)
        return -1;
    f->id_of = id_of;
    int *index_of = realloc(f->index_of, sizeof(int) * capacity);
    if (index_of == NULL)
        return -1;
    f->index_of = index_of;
    for (int id = f->capacity; id < capacity; id++)
        f->index_of[id] = -1;
    f->capacity = capacity;
    return 0;
}

static struct slot *slot_of(struct fanout *f, int id) {
    if (id < 0 || id >= f->capacity || f->index_of[id] < 0)
        return NULL;
    return &f->slots[f->index_of[id]];
}

static int route(struct slot *s, uintptr_t srtp, int fd, const char *addr, int addrlen) {
    if (addrlen <= 0 || (size_t)addrlen > sizeof(s->addr))
        return -1;
    s->srtp = (void *)srtp;
    s->fd = fd;
    memset(&s->addr, 0, sizeof(s->addr));
    memcpy(&s->addr, addr, addrlen);
    s->addrlen = (socklen_t)addrlen;
    return 0;
}

int fanout_add(struct fanout *f, uintptr_t srtp, int fd, const char *addr, int addrlen, uint32_t ssrc,
               int payload_type, int seq, uint32_t ts_offset) {
    if (f->count == f->capacity && grow(f) < 0)
        return -1;
    /* A free id: ids in use are exactly count of them, so one below capacity is free. */
    int id = 0;
    while (f->index_of[id] >= 0)
        id++;
    struct slot *s = &f->slots[f->count];
    memset(s, 0, sizeof(*s));
    if (route(s, srtp, fd, addr, addrlen) < 0)
        return -1;
    s->ssrc = ssrc;
    s->payload_type = (uint8_t)(payload_type & 0x7f);
    s->seq = (uint16_t)seq;
    s->ts_offset = ts_offset;
    f->index_of[id] = f->count;
    f->id_of[f->count] = id;
    f->count++;
    return id;
}

int fanout_update(struct fanout *f, int id, uintptr_t srtp, int fd, const char *addr, int addrlen) {
    struct slot *s = slot_of(f, id);
    return s == NULL ? -1 : route(s, srtp, fd, addr, addrlen);
}

int fanout_remove(struct fanout *f, int id) {
    struct slot *s = slot_of(f, id);
    if (s == NULL)
        return -1;
    int index = f->index_of[id], last = f->count - 1;
    if (index != last) { /* the last listener moves into the hole */
        f->slots[index] = f->slots[last];
        f->id_of[index] = f->id_of[last];
        f->index_of[f->id_of[index]] = index;
    }
    f->index_of[id] = -1;
    f->count--;
    return 0;
}

int fanout_stats(struct fanout *f, int id, struct fanout_stats *out) {
    struct slot *s = slot_of(f, id);
    if (s == NULL)
        return -1;
    *out = s->stats;
    out->seq = s->seq;
    return 0;
}

static double monotonic_now(void) { /* time.monotonic()'s clock */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + now.tv_nsec * 1e-9;
}

static void refused(struct slot *s, int error) {
    s->stats.errors++;
    s->stats.last_error = error;
}

/* Hand a chunk of packets, all for one socket, to the kernel; returns how many it took. A
 * packet refused for its own reason (its address) is skipped and the rest go on; a socket
 * that refuses everything (buffer full, closed) drops the rest of the chunk. */
static int flush(struct fanout *f, int fd, int n, int payload_len) {
    int accepted = 0, i = 0;
    while (i < n) {
        int sent = sendmmsg(fd, f->msgs + i, n - i, MSG_DONTWAIT);
        if (sent < 0) {
            int error = errno;
            if (error == EINTR)
                continue;
            int whole_socket = error == EAGAIN || error == EWOULDBLOCK || error == ENOBUFS || error == EBADF ||
                               error == ENOTSOCK || error == ENOTCONN;
            for (int end = whole_socket ? n : i + 1; i < end; i++)
                refused(&f->slots[f->msg_slot[i]], error);
            continue;
        }
        double now = monotonic_now();
        for (int end = i + sent; i < end; i++) {
            struct slot *s = &f->slots[f->msg_slot[i]];
            s->stats.sent++;
            s->stats.octets += (uint64_t)payload_len;
            s->stats.last_timestamp = s->queued_timestamp;
            s->stats.last_sent_at = now;
        }
        accepted += sent;
    }
    return accepted;
}

int fanout_send(struct fanout *f, const unsigned char *payload, int payload_len, int64_t pts) {
    if (payload_len < 0 || payload_len > FANOUT_PAYLOAD_MAX)
        return -1;
    int count = f->count, accepted = 0, queued = 0, queued_fd = -1;
    if (count == 0)
        return 0;
    int start = f->next_start % count;
    f->next_start = start + 1;
    for (int k = 0; k < count; k++) {
        int index = start + k < count ? start + k : start + k - count;
        struct slot *s = &f->slots[index];
        if (queued && (s->fd != queued_fd || queued == CHUNK)) {
            accepted += flush(f, queued_fd, queued, payload_len);
            queued = 0;
        }
        queued_fd = s->fd;
        unsigned char *packet = f->packets + (size_t)queued * FANOUT_PACKET_MAX;
        uint16_t seq = ++s->seq; /* a dropped packet still takes its number: the receiver sees a loss */
        uint32_t timestamp = s->ts_offset + (uint32_t)pts;
        packet[0] = 0x80; /* RTP version 2, no padding, extension or CSRCs */
        packet[1] = s->payload_type;
        packet[2] = seq >> 8, packet[3] = seq & 0xff;
        packet[4] = timestamp >> 24, packet[5] = timestamp >> 16, packet[6] = timestamp >> 8, packet[7] = timestamp;
        packet[8] = s->ssrc >> 24, packet[9] = s->ssrc >> 16, packet[10] = s->ssrc >> 8, packet[11] = s->ssrc;
        memcpy(packet + RTP_HEADER_LEN, payload, payload_len);
        int len = RTP_HEADER_LEN + payload_len;
        int status = f->protect(s->srtp, packet, &len);
        if (status != 0) {
            refused(s, -status);
            continue;
        }
        s->queued_timestamp = timestamp;
        f->iovs[queued] = (struct iovec){.iov_base = packet, .iov_len = (size_t)len};
        f->msgs[queued] = (struct mmsghdr){.msg_hdr = {.msg_name = &s->addr, .msg_namelen = s->addrlen,
                                                       .msg_iov = &f->iovs[queued], .msg_iovlen = 1}};
        f->msg_slot[queued] = index;
        queued++;
    }
    if (queued)
        accepted += flush(f, queued_fd, queued, payload_len);
    return accepted;
}
