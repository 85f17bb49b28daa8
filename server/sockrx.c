/*
 * sockrx — bytes read from a TCP socket so far: tcpi_bytes_received minus SIOCINQ.
 */
#include "server/sockrx.h"

#include <linux/sockios.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

/* tcpi_state values (include/net/tcp_states.h; not in the uapi headers): states after the
 * peer's FIN. */
enum { ST_TIME_WAIT = 6, ST_CLOSE_WAIT = 8, ST_LAST_ACK = 9, ST_CLOSING = 11 };

/* The kernel's received-in-order count and state; -1 when not available. */
static int tcp_received(int fd, uint64_t *received, uint8_t *state)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0
        || len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received))
        return -1;
    *received = ti.tcpi_bytes_received;
    *state = ti.tcpi_state;
    return 0;
}

int sockrx_consumed(int fd, uint64_t *out)
{
    for (int tries = 0; tries < 4; tries++) {
        uint64_t r1, r2;
        uint8_t s1, s2;
        int inq;
        if (tcp_received(fd, &r1, &s1) != 0 || ioctl(fd, SIOCINQ, &inq) != 0 || inq < 0
            || tcp_received(fd, &r2, &s2) != 0)
            return -1;
        if (r1 != r2 || s1 != s2)
            continue;                   /* bytes or a FIN arrived meanwhile: read again */
        /* A received FIN counts one in tcpi_bytes_received (and SIOCINQ takes it out again):
         * these are the states after the peer's FIN. */
        uint64_t fin = s1 == ST_CLOSE_WAIT || s1 == ST_LAST_ACK || s1 == ST_CLOSING
                       || s1 == ST_TIME_WAIT;
        if (r1 < (uint64_t)inq + fin)
            return -1;
        *out = r1 - (uint64_t)inq - fin;
        return 0;
    }
    return -1;
}
