// SPDX-License-Identifier: GPL-2.0
/*
 * cowmerge: write every modified unit of a cowfile into its rdofile, so
 * that the rdofile shows what the cowdevice showed.
 *
 * Crash-safe and resumable: before the first write to the rdofile, the
 * cowfile's header records (durably) that a merge is under way, with
 * the fingerprint the rdofile will have once merged (which holds at any
 * point of the merge, see cow_merged_fingerprint()).  Merge writes are
 * idempotent, so rerunning the same command after an interruption
 * writes every unit again and completes.  At the end the rdofile is made
 * durable before the header says "merged".  The bitmap and the data
 * area are never changed.
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
	.synopsis = "[-y] [-n] [-p|--no-progress] rdofile cowfile",
	.summary = "Write the modified blocks stored in a cowfile into its rdofile.\n"
		   "This destroys the original contents of the rdofile.  An\n"
		   "interrupted merge is completed by running the same command again.",
	.options = "  -y, --yes         do not ask for confirmation\n"
		   "  -n, --dry-run     check everything a merge checks (the files\n"
		   "                    opened for writing), say what would be\n"
		   "                    written and how much, write nothing\n"
		   "  -p, --progress    show blocks done, of all, and the rate (the\n"
		   "                    default when standard error is a terminal)\n"
		   "      --no-progress never show it\n",
};

#define OPT_NO_PROGRESS	0x200

static const struct option longopts[] = {
	{ "yes", no_argument, NULL, 'y' },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "progress", no_argument, NULL, 'p' },
	{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
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

/* Copy units [u, u + n) from the cowfile's data area into the rdofile. */
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
	if ((size_t)got < len) {	/* never merge missing data as zeroes */
		cow_err_reason(cf->label, COW_E_TRUNCATED, "block %llu",
			       (unsigned long long)(u + (uint64_t)got /
						    COW_MAPUNIT));
		return -1;
	}
	if (cow_pwrite_full(r->fd, buf, len, u * COW_MAPUNIT) < 0) {
		cow_err_errno(r->label, "cannot write");
		return -1;
	}
	return 0;
}

/*
 * Copy every unit whose bit is set, in runs; then make the rdofile
 * durable.  Returns 0, -1 on an error (said), -2 when interrupted
 * (SIGINT, SIGTERM, SIGHUP, between two runs).
 */
static int merge(struct cowfile *cf, const struct rdofile *r, int progress)
{
	uint64_t start, n, done = 0;
	struct cow_progress pg;
	struct cow_map_iter it;
	uint8_t *buf = cow_alloc_aligned(COW_SCAN_CHUNK);
	int ret = -1, k;

	if (!buf) {
		cow_err_errno(cf->label, "merge");
		return -1;
	}
	if (cow_map_iter_init(&it, cf) < 0)
		goto out;
	cow_progress_init(&pg, progress, "merging", cf->hdr.cowused);
	while ((k = cow_map_iter_run(&it, &start, &n, RUN_MAX)) > 0) {
		if (cow_interrupted) {
			ret = -2;
			goto out_it;
		}
		if (copy_run(cf, r, buf, start, n) < 0)
			goto out_it;
		cow_progress_set(&pg, done += n);
	}
	if (k < 0)
		goto out_it;
	cow_progress_end(&pg);
	if (fsync(r->fd) < 0) {
		cow_err_errno(r->label, "fsync");
		goto out_it;
	}
	ret = 0;
out_it:
	cow_map_iter_free(&it);
out:
	free(buf);
	return ret;
}

/* --dry-run: what a merge would write, in how many runs. */
static int dry_run(struct cowfile *cf, const struct rdofile *r, bool resume)
{
	uint64_t units = 0, runs = 0, start, n;
	struct cow_map_iter it;
	char h[16];
	int k;

	if (cow_map_iter_init(&it, cf) < 0)
		return -1;
	while ((k = cow_map_iter_run(&it, &start, &n, UINT64_MAX)) > 0) {
		runs++;
		units += n;
	}
	cow_map_iter_free(&it);
	if (k < 0)
		return -1;
	cow_human(units * COW_MAPUNIT, h, sizeof(h));
	printf("%s %s: would write %llu %s (%llu bytes, %s) in %llu %s from "
	       "%s; nothing written (--dry-run)\n",
	       resume ? "completing the interrupted merge into" : "merge into",
	       r->path, (unsigned long long)units,
	       cow_plural(units, "block", "blocks"),
	       (unsigned long long)(units * COW_MAPUNIT), h,
	       (unsigned long long)runs, cow_plural(runs, "run", "runs"),
	       cf->path);
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
	snprintf(q, sizeof(q), "Merge %llu modified %s of %s into %s? "
		 "This destroys the original contents of %s.",
		 (unsigned long long)cf->hdr.cowused,
		 cow_plural(cf->hdr.cowused, "block", "blocks"), cf->path,
		 r->path, r->path);
	if (cow_ask(q))
		return true;
	cow_err(r->label, "not merged");
	return false;
}

/* The bitmap of a cowfile to merge: complete, and in the file. */
static int check_map(struct cowfile *cf)
{
	struct cow_map_stat st;
	int e = cow_map_check(cf, &st);

	if (e > 0)
		cow_map_refuse(cf, e, &st);
	return e ? -1 : 0;
}

/* Say that rdofile @r is not the one cowfile @cf is merged into (@why). */
static int other_target(const struct cowfile *cf, const struct rdofile *r,
			const char *why)
{
	cow_err(cf->label, "%s (%s does not match: %s)",
		cf->hdr.ext_flags & COW_EXT_MERGED ?
		"already merged into another rdofile" :
		"a merge into another rdofile is under way", r->label, why);
	return -1;
}

/*
 * A cowfile whose merge was interrupted (MERGING) or completed (MERGED):
 * is @r the rdofile it was being merged into?  Its size must match, its
 * identity (rdoid: units the merge does not write, when recorded), and
 * its fingerprint counted over the merged image.
 */
static int check_merge_target(struct cowfile *cf, const struct rdofile *r)
{
	uint64_t id;
	uint32_t fp;
	int e;

	if (check_map(cf) < 0)
		return -1;
	/* the stored fingerprint was the rdofile's before: sizes only */
	e = cow_hdr_check_rdo(&cf->hdr, r->size, (uint32_t)cf->hdr.fingerprint);
	if (e)
		return cow_refuse_rdo(cf, r, e);
	if (cf->hdr.rdoid) {
		if (cow_rdoid(cf, r, &id) < 0)
			return -1;
		if (id != cf->hdr.rdoid)
			return other_target(cf, r, "its blocks the cowfile does "
					    "not cover differ");
	}
	if (cf->hdr.ext_flags & COW_EXT_MERGED) {
		if (rdo_fingerprint(r, &fp) < 0)
			return -1;
	} else if (cow_merged_fingerprint(cf, r, &fp) < 0) {
		return -1;
	}
	if (fp != (uint32_t)cf->hdr.mergefp)
		return other_target(cf, r, "fingerprint mismatch");
	return 0;
}

/*
 * Record durably, before the first write, that a merge is under way, and
 * what identifies its rdofile: the fingerprint it has once merged, and
 * the hash of units the merge does not write.
 */
static int mark_merging(struct cowfile *cf, const struct rdofile *r)
{
	uint64_t id;
	uint32_t fp;

	if (cow_merged_fingerprint(cf, r, &fp) < 0 || cow_rdoid(cf, r, &id) < 0)
		return -1;
	cf->hdr.mergefp = fp;
	cf->hdr.rdoid = id;
	cf->hdr.rdosize = r->size;
	cf->hdr.flags |= COW_F_DIRTY;
	cf->hdr.ext_flags |= COW_EXT_MERGING;
	return cow_hdr_write(cf);
}

static int mark_merged(struct cowfile *cf)
{
	cf->hdr.ext_flags &= ~COW_EXT_MERGING;
	cf->hdr.ext_flags |= COW_EXT_MERGED;
	return cow_hdr_write(cf);
}

int main(int argc, char **argv)
{
	struct cowfile cf;
	struct rdofile r;
	bool yes = false, dry = false, resume;
	int c, e, ret = COW_EXIT_FAIL, progress = -1;

	cow_tool_init(&tool);
	while ((c = getopt_long(argc, argv, "ynp" COW_SHORTOPTS_STD, longopts,
				NULL)) != -1) {
		if (c == 'y')
			yes = true;
		else if (c == 'n')
			dry = true;
		else if (c == 'p')
			progress = 1;
		else if (c == OPT_NO_PROGRESS)
			progress = 0;
		else
			cow_std_option(c);
	}
	if (argc - optind != 2)
		cow_usage_error(argc - optind < 2 ? "missing rdofile or cowfile"
						  : "too many arguments");
	/*
	 * Both opened for writing, locked and checked as for writing even
	 * with --dry-run, which must fail where the merge would: a mounted
	 * block device (O_EXCL), a file that is not writable, in use by an
	 * active cowdevice or a loop device, or locked by another tool.
	 */
	if (rdo_open(&r, argv[optind], true) < 0)
		return COW_EXIT_FAIL;
	if (same_file(argv[optind + 1], r.fd)) {
		cow_err(r.label, "%s", cow_strerror(COW_E_SAMEFILE));
		goto out_rdo;
	}
	if (cow_open(&cf, argv[optind + 1], true) < 0)
		goto out_rdo;
	if (cow_claim(r.label, r.fd, true) < 0 ||
	    cow_claim(cf.label, cf.fd, true) < 0 ||
	    cow_refuse_loop(r.label, r.fd) < 0 ||
	    cow_refuse_loop(cf.label, cf.fd) < 0)
		goto out;
	resume = cf.hdr.ext_flags & COW_EXT_MERGING;
	if (cf.hdr.ext_flags & COW_EXT_MERGED) {
		if (check_merge_target(&cf, &r) < 0)
			goto out;
		printf("cowfile %s: already merged into %s: nothing to do\n",
		       cf.path, r.path);
		ret = COW_EXIT_OK;
		goto out;
	}
	if (resume ? check_merge_target(&cf, &r) < 0
		   : cow_check_pair(&cf, &r) < 0)
		goto out;
	if (dry) {
		ret = dry_run(&cf, &r, resume) < 0 ? COW_EXIT_FAIL : COW_EXIT_OK;
		goto out;
	}
	if (cf.hdr.cowused && !confirmed(&cf, &r, yes))
		goto out;
	if (resume)
		printf("cowfile %s: completing the interrupted merge into %s\n",
		       cf.path, r.path);
	else if (cf.hdr.cowused && mark_merging(&cf, &r) < 0)
		goto out;
	/* from here on the rdofile is half merged until the end */
	cow_catch_interrupts();
	e = merge(&cf, &r, progress);
	if (!e && cf.hdr.cowused && mark_merged(&cf) < 0)
		e = -1;
	if (e && cf.hdr.cowused) {
		cow_err(cf.label, "merge into %s %s: run the same command "
			"again to complete it", r.path,
			e == -2 ? "interrupted" : "not completed");
		goto out;
	}
	if (e)
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
