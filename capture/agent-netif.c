/* agent-netif.c - the crash kernel's network, for net: targets.
 *
 * NIC drivers: each PCI device of the network class and each virtio network
 * device is looked up by its modalias in the image's modules.alias (the
 * virtio device appears once virtio_pci is loaded, so the scan repeats);
 * without a modules.alias, or when no alias matches, the image's net_modules
 * are loaded.  Then the interface (by name, by MAC, or the first with
 * carrier) is brought up, addressed and routed over rtnetlink, with a static
 * address or from a DHCPv4 exchange of our own (DISCOVER, OFFER, REQUEST,
 * ACK; broadcast replies, bounded tries).  Everything is bounded by
 * net_wait seconds.
 */
#include "agent-internal.h"
#include "../kmod/kmod.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define ERR(...) (snprintf(why, whylen, __VA_ARGS__), -1)

static void pause_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* A one-line sysfs attribute, without its newline. */
static int read_small(const char *path, char *buf, size_t len)
{
	ssize_t n = cap_agent_read_small(path, buf, len);

	if (n < 0)
		return -EIO;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/* ---- drivers ----------------------------------------------------------------- */
struct modlist {
	char names[2304];
};

static int add_mod(const char *name, void *ctx)
{
	struct modlist *m = ctx;
	size_t n = strlen(name), have = strlen(m->names);
	const char *p = m->names;

	while ((p = strstr(p, name))) {
		if ((p == m->names || p[-1] == ',') && (p[n] == ',' || p[n] == 0))
			return 0;
		p += n;
	}
	if (have + n + 2 < sizeof(m->names))
		snprintf(m->names + have, sizeof(m->names) - have, "%s%s", have ? "," : "", name);
	return 0;
}

/* The modaliases of network devices, resolved to module names. */
static void scan_aliases(const struct kmod_aliases *al, struct modlist *m)
{
	static const char *const buses[] = { "/sys/bus/pci/devices", "/sys/bus/virtio/devices" };
	char path[512], val[256];

	for (size_t b = 0; b < 2; b++) {
		DIR *d = opendir(buses[b]);
		struct dirent *e;
		if (!d)
			continue;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			if (b == 0) {
				snprintf(path, sizeof(path), "%s/%s/class", buses[b], e->d_name);
				if (read_small(path, val, sizeof(val)) < 0 ||
				    (strtoul(val, NULL, 16) >> 16) != 0x02)
					continue;
			}
			snprintf(path, sizeof(path), "%s/%s/modalias", buses[b], e->d_name);
			if (read_small(path, val, sizeof(val)) < 0)
				continue;
			if (b == 1 && strncmp(val, "virtio:d00000001v", 17))
				continue;
			kmod_aliases_each(al, val, add_mod, m);
		}
		closedir(d);
	}
}

/* Interfaces other than lo. */
static int count_ifaces(void)
{
	DIR *d = opendir("/sys/class/net");
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && strcmp(e->d_name, "lo"))
			n++;
	closedir(d);
	return n;
}

static void load_drivers(const struct cfg *c, double until, struct cap_agent_net *n)
{
	struct kmod_aliases al = { 0 };
	struct modlist m = { "" }, done = { "" };
	struct cap_agent_kmod_stats ks;
	struct utsname u;
	char dir[300];

	if (uname(&u) == 0) {
		snprintf(dir, sizeof(dir), "/lib/modules/%s", u.release);
		kmod_aliases_load(&al, dir);
	}
	for (int pass = 0; pass < 4 && cap_agent_now() < until; pass++) {
		m.names[0] = 0;
		if (al.text)
			scan_aliases(&al, &m);
		if (!m.names[0] && !done.names[0] && c->net_modules[0])
			snprintf(m.names, sizeof(m.names), "%s", c->net_modules);
		/* only what is new this pass */
		struct modlist todo = { "" };
		char copy[sizeof(m.names)], *save = NULL;
		snprintf(copy, sizeof(copy), "%s", m.names);
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			size_t before = strlen(done.names);
			add_mod(t, &done);
			if (strlen(done.names) != before)
				add_mod(t, &todo);
		}
		if (!todo.names[0]) {
			if (count_ifaces())
				break;
			pause_ms(250);
			continue;
		}
		cap_agent_kmod_load(todo.names, &ks);
		pause_ms(300);   /* let the bus announce what the driver found */
	}
	snprintf(n->modules, sizeof(n->modules), "%s", done.names);
	kmod_aliases_free(&al);
}

/* ---- rtnetlink ------------------------------------------------------------------ */
struct nlreq {
	struct nlmsghdr h;
	union {
		struct ifinfomsg ifi;
		struct ifaddrmsg ifa;
		struct rtmsg rt;
	} u;
	char attrs[64];
};

static void nl_attr(struct nlreq *r, unsigned short type, const void *data, unsigned short len)
{
	struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->h.nlmsg_len));

	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* Send one request and wait for its acknowledgement: 0 or -errno. */
static int nl_do(struct nlreq *r)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char buf[1024];
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), rc = -EIO;

	if (fd < 0)
		return -errno;
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	r->h.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	r->h.nlmsg_seq = 1;
	if (sendto(fd, r, r->h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		goto out;
	}
	ssize_t n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0) {
		rc = -errno;
		goto out;
	}
	for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
	     h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_ERROR &&
		    h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
			rc = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
			break;
		}
	}
out:
	close(fd);
	return rc;
}

static int link_up(int ifindex)
{
	struct nlreq r = { .h = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
				  .nlmsg_type = RTM_NEWLINK } };

	r.u.ifi.ifi_family = AF_UNSPEC;
	r.u.ifi.ifi_index = ifindex;
	r.u.ifi.ifi_flags = IFF_UP;
	r.u.ifi.ifi_change = IFF_UP;
	return nl_do(&r);
}

static int add_addr(int ifindex, uint32_t addr, unsigned prefix)
{
	struct nlreq r = { .h = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg)),
				  .nlmsg_type = RTM_NEWADDR,
				  .nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE } };
	uint32_t bcast = prefix < 32 ? addr | htonl(0xffffffffu >> prefix) : addr;

	r.u.ifa.ifa_family = AF_INET;
	r.u.ifa.ifa_prefixlen = (unsigned char)prefix;
	r.u.ifa.ifa_index = (unsigned)ifindex;
	nl_attr(&r, IFA_LOCAL, &addr, 4);
	nl_attr(&r, IFA_ADDRESS, &addr, 4);
	nl_attr(&r, IFA_BROADCAST, &bcast, 4);
	return nl_do(&r);
}

static int add_default_route(int ifindex, uint32_t gw)
{
	struct nlreq r = { .h = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg)),
				  .nlmsg_type = RTM_NEWROUTE,
				  .nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE } };
	uint32_t oif = (uint32_t)ifindex;

	r.u.rt.rtm_family = AF_INET;
	r.u.rt.rtm_table = RT_TABLE_MAIN;
	r.u.rt.rtm_protocol = RTPROT_BOOT;
	r.u.rt.rtm_scope = RT_SCOPE_UNIVERSE;
	r.u.rt.rtm_type = RTN_UNICAST;
	nl_attr(&r, RTA_GATEWAY, &gw, 4);
	nl_attr(&r, RTA_OIF, &oif, 4);
	return nl_do(&r);
}

/* ---- DHCPv4 --------------------------------------------------------------------- */
#define DHCP_FIXED 240          /* BOOTP header and the magic cookie */

struct lease {
	uint32_t addr, server, mask, router;
};

static size_t dhcp_build(uint8_t *p, uint32_t xid, const uint8_t mac[6], int type,
			 const struct lease *l)
{
	size_t o = DHCP_FIXED;

	memset(p, 0, 548);
	p[0] = 1;                       /* BOOTREQUEST */
	p[1] = 1;                       /* Ethernet */
	p[2] = 6;
	memcpy(p + 4, &xid, 4);
	p[10] = 0x80;                   /* broadcast flag: we have no address yet */
	memcpy(p + 28, mac, 6);
	p[236] = 99; p[237] = 130; p[238] = 83; p[239] = 99;
	p[o++] = 53; p[o++] = 1; p[o++] = (uint8_t)type;
	if (type == 3) {
		p[o++] = 50; p[o++] = 4; memcpy(p + o, &l->addr, 4); o += 4;
		p[o++] = 54; p[o++] = 4; memcpy(p + o, &l->server, 4); o += 4;
	}
	p[o++] = 55; p[o++] = 2; p[o++] = 1; p[o++] = 3;
	p[o++] = 255;
	return o < 300 ? 300 : o;
}

/* Parse a reply for xid: its message type, or -1. */
static int dhcp_parse(const uint8_t *p, size_t n, uint32_t xid, const uint8_t mac[6],
		      struct lease *l)
{
	int type = -1;

	if (n < DHCP_FIXED || p[0] != 2 || memcmp(p + 4, &xid, 4) || memcmp(p + 28, mac, 6) ||
	    p[236] != 99 || p[237] != 130 || p[238] != 83 || p[239] != 99)
		return -1;
	memcpy(&l->addr, p + 16, 4);
	for (size_t o = DHCP_FIXED; o < n;) {
		uint8_t code = p[o];
		if (code == 255)
			break;
		if (code == 0) {
			o++;
			continue;
		}
		if (o + 2 > n || o + 2 + p[o + 1] > n)
			break;
		const uint8_t *v = p + o + 2;
		uint8_t len = p[o + 1];
		if (code == 53 && len == 1)
			type = v[0];
		else if (code == 54 && len == 4)
			memcpy(&l->server, v, 4);
		else if (code == 1 && len == 4)
			memcpy(&l->mask, v, 4);
		else if (code == 3 && len >= 4)
			memcpy(&l->router, v, 4);
		o += 2 + (size_t)len;
	}
	return type;
}

/* Send type and wait for the answer of type want, at most tries times. */
static int dhcp_step(int fd, uint32_t xid, const uint8_t mac[6], int type, int want,
		     struct lease *l, double until)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(67),
				  .sin_addr = { .s_addr = INADDR_BROADCAST } };
	uint8_t pkt[576], in[1500];

	for (int tries = 0; tries < 4 && cap_agent_now() < until; tries++) {
		size_t n = dhcp_build(pkt, xid, mac, type, l);
		if (sendto(fd, pkt, n, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
			return -errno;
		double end = cap_agent_now() + 1.0 + tries;
		if (end > until)
			end = until;
		while (cap_agent_now() < end) {
			struct pollfd pf = { .fd = fd, .events = POLLIN };
			int ms = (int)((end - cap_agent_now()) * 1000) + 1;
			if (poll(&pf, 1, ms) <= 0)
				break;
			ssize_t r = recv(fd, in, sizeof(in), 0);
			struct lease got = *l;
			if (r > 0 && dhcp_parse(in, (size_t)r, xid, mac, &got) == want) {
				if (want == 2 && !got.server)
					continue;
				*l = got;
				return 0;
			}
			if (r > 0 && want == 5 && dhcp_parse(in, (size_t)r, xid, mac, &got) == 6)
				return -ECONNREFUSED;   /* NAK */
		}
	}
	return -ETIMEDOUT;
}

static int dhcp(const char *ifname, const uint8_t mac[6], struct lease *l, double until)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1, rc;
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons(68) };
	uint32_t xid;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname)) < 0 ||
	    bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	memcpy(&xid, mac + 2, 4);
	xid ^= (uint32_t)time(NULL);
	memset(l, 0, sizeof(*l));
	rc = dhcp_step(fd, xid, mac, 1, 2, l, until);
	if (rc == 0)
		rc = dhcp_step(fd, xid, mac, 3, 5, l, until);
	close(fd);
	return rc;
}

/* ---- the interface ------------------------------------------------------------------ */
static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6 ||
	    strlen(s) != 17)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return true;
}

/* Pick the interface: by name or MAC, else the first that gets carrier. */
static int pick(const struct cfg *c, struct cap_agent_net *n, uint8_t mac[6], double until)
{
	char names[8][IF_NAMESIZE + 1], path[300], val[64];
	int count = 0;
	DIR *d;
	struct dirent *e;

	while (count == 0 && cap_agent_now() < until) {
		d = opendir("/sys/class/net");
		if (d) {
			while ((e = readdir(d)) && count < 8)
				if (e->d_name[0] != '.' && strcmp(e->d_name, "lo") &&
				    strlen(e->d_name) <= IF_NAMESIZE)
					snprintf(names[count++], sizeof(names[0]), "%s", e->d_name);
			closedir(d);
		}
		if (!count)
			pause_ms(200);
	}
	if (!count)
		return -ENODEV;
	/* everything up, so that carrier can be seen */
	for (int i = 0; i < count; i++)
		link_up((int)if_nametoindex(names[i]));
	while (cap_agent_now() < until) {
		for (int i = 0; i < count; i++) {
			uint8_t m[6];
			snprintf(path, sizeof(path), "/sys/class/net/%s/address", names[i]);
			if (read_small(path, val, sizeof(val)) < 0 || !parse_mac(val, m))
				continue;
			if (c->iface[0] && strcmp(c->iface, names[i]) && strcasecmp(c->iface, val))
				continue;
			snprintf(path, sizeof(path), "/sys/class/net/%s/carrier", names[i]);
			if (read_small(path, val, sizeof(val)) < 0 || strcmp(val, "1"))
				continue;
			snprintf(n->ifname, sizeof(n->ifname), "%.16s", names[i]);
			n->ifindex = (int)if_nametoindex(names[i]);
			memcpy(mac, m, 6);
			snprintf(n->mac, sizeof(n->mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1],
				 m[2], m[3], m[4], m[5]);
			return 0;
		}
		pause_ms(200);
	}
	return -ENOLINK;
}

/* "static:ADDR/PREFIX[:GATEWAY]" */
static int parse_static(const char *s, struct lease *l, unsigned *prefix)
{
	char a[64], *slash, *colon, *end;
	struct in_addr ia;

	if (strncmp(s, "static:", 7) || strlen(s + 7) >= sizeof(a))
		return -EINVAL;
	strcpy(a, s + 7);
	slash = strchr(a, '/');
	if (!slash)
		return -EINVAL;
	*slash = 0;
	colon = strchr(slash + 1, ':');
	if (colon)
		*colon = 0;
	unsigned long p = strtoul(slash + 1, &end, 10);
	if (*end || end == slash + 1 || p < 1 || p > 32 || inet_pton(AF_INET, a, &ia) != 1)
		return -EINVAL;
	l->addr = ia.s_addr;
	*prefix = (unsigned)p;
	l->router = 0;
	if (colon) {
		if (inet_pton(AF_INET, colon + 1, &ia) != 1)
			return -EINVAL;
		l->router = ia.s_addr;
	}
	return 0;
}

int cap_agent_net_up(const struct cfg *c, struct cap_agent_net *n, char *why, size_t whylen)
{
	double until = cap_agent_now() + (double)c->net_wait;
	struct lease l = { 0 };
	uint8_t mac[6];
	unsigned prefix = 0;
	int rc;

	memset(n, 0, sizeof(*n));
	if (!strcmp(c->net, "none")) {
		/* already configured (the kernel's ip=, or a test on a live host) */
		snprintf(n->ifname, sizeof(n->ifname), "-");
		snprintf(n->addr, sizeof(n->addr), "as configured");
		return 0;
	}
	n->dhcp = !strcmp(c->net, "dhcp");
	if (!n->dhcp && parse_static(c->net, &l, &prefix) < 0)
		return ERR("net=%.64s: expected dhcp, static:ADDR/PREFIX[:GATEWAY] or none", c->net);
	load_drivers(c, until, n);
	link_up((int)if_nametoindex("lo"));
	if ((rc = pick(c, n, mac, until)) == -ENODEV)
		return ERR("no network interface in %llu s (drivers loaded: %s)",
			   (unsigned long long)c->net_wait, n->modules[0] ? n->modules : "none");
	if (rc < 0)
		return ERR("no carrier on %s in %llu s (drivers loaded: %s)",
			   c->iface[0] ? c->iface : "any interface",
			   (unsigned long long)c->net_wait, n->modules[0] ? n->modules : "none");
	if (n->dhcp) {
		rc = dhcp(n->ifname, mac, &l, until);
		if (rc < 0)
			return ERR("%s: DHCP: %s", n->ifname,
				   rc == -ETIMEDOUT ? "no answer" : strerror(-rc));
		uint32_t m = ntohl(l.mask);
		prefix = 0;
		while (prefix < 32 && (m & (0x80000000u >> prefix)))
			prefix++;
		if (!prefix)
			prefix = 24;
	}
	if ((rc = add_addr(n->ifindex, l.addr, prefix)) < 0)
		return ERR("%s: cannot set the address: %s", n->ifname, strerror(-rc));
	if (l.router && (rc = add_default_route(n->ifindex, l.router)) < 0)
		return ERR("%s: cannot set the route: %s", n->ifname, strerror(-rc));
	inet_ntop(AF_INET, &l.addr, n->addr, sizeof(n->addr));
	if (l.router)
		inet_ntop(AF_INET, &l.router, n->gw, sizeof(n->gw));
	n->prefix = prefix;
	return 0;
}
