/*
 * Loaded with LD_PRELOAD into a service that has no setting for the address it listens on
 * (Pinot 0.11's server query port): a bind to the wildcard address becomes a bind to the
 * loopback address, so the port is reachable from this host only. Other binds pass unchanged.
 * Built by stack/services/loopback.py.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_function)(int, const struct sockaddr *, socklen_t);

/* ::ffff:127.0.0.1: a dual-stack socket (Java's default) bound here takes IPv4 loopback only. */
static const unsigned char MAPPED_LOOPBACK[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};

int bind(int fd, const struct sockaddr *address, socklen_t length) {
    bind_function real_bind = (bind_function)dlsym(RTLD_NEXT, "bind");
    if (address != NULL && address->sa_family == AF_INET && length >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in v4;
        memcpy(&v4, address, sizeof v4);
        if (v4.sin_addr.s_addr == htonl(INADDR_ANY)) {
            v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            return real_bind(fd, (const struct sockaddr *)&v4, sizeof v4);
        }
    } else if (address != NULL && address->sa_family == AF_INET6 &&
               length >= sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 v6;
        memcpy(&v6, address, sizeof v6);
        if (IN6_IS_ADDR_UNSPECIFIED(&v6.sin6_addr)) {
            memcpy(&v6.sin6_addr, MAPPED_LOOPBACK, sizeof MAPPED_LOOPBACK);
            return real_bind(fd, (const struct sockaddr *)&v6, sizeof v6);
        }
    }
    return real_bind(fd, address, length);
}
