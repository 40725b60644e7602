// SPDX-License-Identifier: GPL-2.0
/*
 * cowmerge: write every modified unit of a cowfile into its rdofile, so
 * that the rdofile shows what the cowdevice showed.  The cowfile is left
 * unchanged (and useless afterwards: its fingerprint no longer matches).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "cowlib.h"

static const struct cow_tool tool = {
	.name = "cowmerge",
	.synopsis = "[-y] rdofile cowfile",
	.summary = "Write the modified blocks stored in a cowfile into its rdofile.\n"
		   "This destroys the original contents of the rdofile.",
	.options = "  -y, --yes         do not ask for confirmation\n",
};

static const struct option longopts[] = {
	{ "yes", no_argument, NULL, 'y' },
	COW_LONGOPTS_STD,
	{ NULL, 0, NULL, 0 }
};

/* Units per copy: contiguous runs are copied up to this many at once. */
#define RUN_MAX	(COW_SCAN_CHUNK / COW_MAPUNIT)

static bool same_file(const char *path, int fd)
{
	struct stat sa, sb;

	return !stat(path, &sa) && !fstat(fd, &sb) &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Next unit >= @u whose bit is set, or @n; skips zero words quickly. */
static uint64_t next_set(const uint8_t *map, uint64_t u, uint64_t n)
{
	while (u < n) {
		if (!(u & 63) && u + 64 <= n) {
			uint64_t w;

			memcpy(&w, map + (u >> 3), sizeof(w));
			if (!w) {
				u += 64;
				continue;
			}
		}
		if (cow_bit_test(map, u))
			return u;
		u++;
	}
	return n;
}

static int copy_run(const struct cowfile *cf, const struct rdofile *r,
		    uint8_t *buf, uint64_t u, uint64_t n)
{
	size_t len = n * COW_MAPUNIT;
	ssize_t got = cow_pread_full(cf->fd, buf, len,
				     cf->hdr.doffset + u * COW_MAPUNIT);

	if (got < 0) {
		cow_err_errno(cf->label, "cannot read");
		return -1;
	}
	memset(buf + got, 0, len - (size_t)got);	/* beyond EOF: zeroes */
	if (cow_pwrite_full(r->fd, buf, len, u * COW_MAPUNIT) < 0) {
		cow_err_errno(r->label, "cannot write");
		return -1;
	}
	return 0;
}

static int merge(const struct cowfile *cf, const struct rdofile *r)
{
	uint64_t n = cf->hdr.rdoblocks, u = 0, e;
	uint8_t *buf = cow_alloc_aligned(COW_SCAN_CHUNK);

	if (!buf) {
		cow_err_errno(cf->label, "merge");
		return -1;
	}
	while ((u = next_set(cf->map, u, n)) < n) {
		for (e = u + 1; e < n && e - u < RUN_MAX &&
		     cow_bit_test(cf->map, e); e++)
			;
		if (copy_run(cf, r, buf, u, e - u) < 0) {
			free(buf);
			return -1;
		}
		u = e;
	}
	free(buf);
	if (fsync(r->fd) < 0) {
		cow_err_errno(r->label, "fsync");
		return -1;
	}
	return 0;
}

static bool confirmed(const struct cowfile *cf, const struct rdofile *r,
		      bool yes)
{
	char q[3 * COW_PATH_MAX];

	if (yes)
		return true;
	if (!isatty(STDIN_FILENO)) {
		cow_err(r->label, "not merged: standard input is not a "
			"terminal to confirm (use -y)");
		return false;
	}
	snprintf(q, sizeof(q), "Merge %llu modified blocks of %s into %s? "
		 "This destroys the original contents of %s.",
		 (unsigned long long)cf->hdr.cowused, cf->path, r->path,
		 r->path);
	if (cow_ask(q))
		return true;
	cow_err(r->label, "not merged");
	return false;
}

int main(int argc, char **argv)
{
	struct cowfile cf;
	struct rdofile r;
	bool yes = false;
	int c, ret = COW_EXIT_FAIL;

	cow_tool_init(&tool);
	while ((c = getopt_long(argc, argv, "y", longopts, NULL)) != -1) {
		if (c == 'y')
			yes = true;
		else
			cow_std_option(c);
	}
	if (argc - optind != 2)
		cow_usage_error(argc - optind < 2 ? "missing rdofile or cowfile"
						  : "too many arguments");
	if (rdo_open(&r, argv[optind], true) < 0)
		return COW_EXIT_FAIL;
	if (same_file(argv[optind + 1], r.fd)) {
		cow_err(r.label, "%s", cow_strerror(COW_E_SAMEFILE));
		goto out_rdo;
	}
	if (cow_open(&cf, argv[optind + 1], false) < 0)
		goto out_rdo;
	if (cow_map_load(&cf) < 0 || cow_check_pair(&cf, &r) < 0)
		goto out;
	if (cf.hdr.cowused && !confirmed(&cf, &r, yes))
		goto out;
	if (merge(&cf, &r) < 0)
		goto out;
	printf("Number of blocks modified in %s: %llu\n", r.path,
	       (unsigned long long)cf.hdr.cowused);
	ret = COW_EXIT_OK;
out:
	cow_close(&cf);
out_rdo:
	rdo_close(&r);
	return ret;
}
