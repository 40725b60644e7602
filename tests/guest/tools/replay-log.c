// SPDX-License-Identifier: GPL-2.0
/*
 * replay-log: list or replay a dm-log-writes log (the crash tests' tool;
 * Debian does not package the upstream one).
 *
 *	replay-log LOG
 *		list the entries, one a line:  INDEX FLAGS SECTOR NR_SECTORS [MARK]
 *		FLAGS is "-" or a comma list of FLUSH FUA DISCARD MARK META;
 *		SECTOR and NR_SECTORS are in the log's sector size.
 *	replay-log LOG TARGET FIRST LAST
 *		apply entries FIRST..LAST (inclusive, 0-based) to TARGET, a
 *		file or block device, in log order, then fsync it.  Replaying
 *		0..k1, then k1+1..k2 on the same TARGET gives the state at k2.
 *		A discarded range is written as zeroes.
 *
 * Log format (Documentation/admin-guide/device-mapper/log-writes.rst,
 * drivers/md/dm-log-writes.c), all little-endian: the super block fills
 * the first sector; each entry is one sector (struct log_write_entry, then
 * the mark's text for a MARK) followed by nr_sectors sectors of data,
 * except for DISCARD entries, which carry no data.  Entries are logged in
 * the order the writes reached stable storage: writes completed before a
 * FLUSH come just before it, so replaying up to any entry gives a state a
 * power cut could have left.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_FLUSH_FLAG		(1 << 0)
#define LOG_FUA_FLAG		(1 << 1)
#define LOG_DISCARD_FLAG	(1 << 2)
#define LOG_MARK_FLAG		(1 << 3)
#define LOG_METADATA_FLAG	(1 << 4)
#define WRITE_LOG_VERSION	1ULL
#define WRITE_LOG_MAGIC		0x6a736677736872ULL

struct log_write_super {
	uint64_t magic;
	uint64_t version;
	uint64_t nr_entries;
	uint32_t sectorsize;
} __attribute__((packed));

struct log_write_entry {
	uint64_t sector;
	uint64_t nr_sectors;
	uint64_t flags;
	uint64_t data_len;
};

static void die(const char *what)
{
	fprintf(stderr, "replay-log: %s: %s\n", what,
		errno ? strerror(errno) : "bad log");
	exit(1);
}

static void pread_full(int fd, void *buf, size_t len, off_t pos)
{
	while (len) {
		ssize_t n = pread(fd, buf, len, pos);

		if (n <= 0) {
			if (n == 0)
				errno = 0;
			die("read log");
		}
		buf = (char *)buf + n;
		len -= n;
		pos += n;
	}
}

static void pwrite_full(int fd, const void *buf, size_t len, off_t pos)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, pos);

		if (n <= 0)
			die("write target");
		buf = (const char *)buf + n;
		len -= n;
		pos += n;
	}
}

static void print_flags(uint64_t f)
{
	static const char *const names[] = { "FLUSH", "FUA", "DISCARD",
					     "MARK", "META" };
	int i, any = 0;

	for (i = 0; i < 5; i++)
		if (f & (1ULL << i))
			printf("%s%s", any++ ? "," : "", names[i]);
	if (!any)
		printf("-");
}

int main(int argc, char **argv)
{
	struct log_write_super super;
	struct log_write_entry e;
	uint64_t nr, i, first = 0, last = 0, ss;
	int log, target = -1;
	char *sec, *buf;
	size_t bufsize = 1 << 20;
	off_t pos;

	if (argc != 2 && argc != 5) {
		fprintf(stderr, "usage: replay-log LOG [TARGET FIRST LAST]\n");
		return 2;
	}
	log = open(argv[1], O_RDONLY);
	if (log < 0)
		die(argv[1]);
	if (argc == 5) {
		target = open(argv[2], O_WRONLY);
		if (target < 0)
			die(argv[2]);
		first = strtoull(argv[3], NULL, 0);
		last = strtoull(argv[4], NULL, 0);
	}
	errno = 0;
	pread_full(log, &super, sizeof(super), 0);
	if (le64toh(super.magic) != WRITE_LOG_MAGIC ||
	    le64toh(super.version) != WRITE_LOG_VERSION)
		die("not a dm-log-writes log (magic/version)");
	ss = le32toh(super.sectorsize);
	nr = le64toh(super.nr_entries);
	if (ss < 512 || ss > 65536 || (ss & (ss - 1)))
		die("bad sector size");
	sec = malloc(ss);
	buf = malloc(bufsize);
	if (!sec || !buf)
		die("malloc");

	pos = ss;
	for (i = 0; i < nr && (target < 0 || i <= last); i++) {
		uint64_t flags, sector, count, len, done;

		pread_full(log, sec, ss, pos);
		memcpy(&e, sec, sizeof(e));
		flags = le64toh(e.flags);
		sector = le64toh(e.sector);
		count = le64toh(e.nr_sectors);
		pos += ss;
		len = (flags & LOG_DISCARD_FLAG) ? 0 : count * ss;
		if (target < 0) {
			printf("%" PRIu64 " ", i);
			print_flags(flags);
			printf(" %" PRIu64 " %" PRIu64, sector, count);
			if (flags & LOG_MARK_FLAG) {
				uint64_t dl = le64toh(e.data_len);

				if (dl > ss - sizeof(e))
					dl = ss - sizeof(e);
				printf(" %.*s", (int)dl, sec + sizeof(e));
			}
			printf("\n");
		} else if (i >= first && (count || len)) {
			for (done = 0; done < count * ss; ) {
				uint64_t chunk = count * ss - done;

				if (chunk > bufsize)
					chunk = bufsize;
				if (len)
					pread_full(log, buf, chunk, pos + done);
				else
					memset(buf, 0, chunk);
				pwrite_full(target, buf, chunk,
					    sector * ss + done);
				done += chunk;
			}
		}
		pos += len;
	}
	if (target >= 0) {
		if (i <= last) {
			errno = 0;
			fprintf(stderr, "replay-log: entry %" PRIu64
				" is beyond the log's %" PRIu64 " entries\n",
				last, nr);
			return 1;
		}
		if (fsync(target) < 0)
			die("fsync target");
	}
	return 0;
}
