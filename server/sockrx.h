/*
 * sockrx — how many bytes the application has read from a TCP socket, from the kernel's own
 * counters. http.c uses it to tell whether libwebsockets is parsing a request out of bytes it
 * read earlier (a pipelined request) or out of a fresh read (issue 8; docs/api-notes.md).
 * Its own file because <linux/tcp.h> (tcpi_bytes_received) clashes with the <netinet/tcp.h>
 * that <uv.h> includes.
 */
#ifndef PB_SOCKRX_H
#define PB_SOCKRX_H

#include <stdint.h>

/*
 * Bytes of the TCP stream on fd that the process has read so far (received in order minus
 * still queued in the kernel), in *out. A FIN from the peer is not counted. Data arriving
 * between the system calls is detected (the received count changes) and the reading retried.
 * Returns 0, or -1 when the kernel does not tell (not a TCP socket, a kernel before Linux 4.1
 * without tcpi_bytes_received, or the stream kept moving for every try); *out is then unset.
 */
int sockrx_consumed(int fd, uint64_t *out);

#endif
