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
 *
 * With -o, the merged image goes to a new file instead, sparse, written
 * under a temporary name and renamed once complete (cow_newfile_*()):
 * rdofile and cowfile are only read, locked shared.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "cowlib.h"

static const struct cow_tool tool = {
	.name = "cowmerge",
	.synopsis = "[-y] [-n [-J]] [-p|--no-progress] rdofile cowfile\n"
		    "-o newfile [-f] [-n [-J]] [-p|--no-progress] rdofile cowfile",
	.summary = "Write the modified blocks stored in a cowfile into its rdofile.\n"
		   "This destroys the original contents of the rdofile.  An\n"
		   "interrupted merge is completed by running the same command again.\n"
		   "With -o, write the merged image to a new file instead, leaving\n"
		   "rdofile and cowfile untouched.",
	.options = "  -y, --yes         do not ask for confirmation\n"
		   "  -o, --output FILE write the merged image to FILE, a new file\n"
		   "                    (sparse; complete or not there at all)\n"
		   "  -f, --force       with -o: replace FILE if it exists\n"
		   "  -n, --dry-run     check everything a merge checks (the files\n"
		   "                    opened for writing; with -o, read), say what\n"
		   "                    would be written and how much, write nothing\n"
		   "  -J, --json        with -n: say it in JSON (see cowmerge(8))\n"
		   "  -p, --progress    show blocks done, of all, and the rate (the\n"
		   "                    default when standard error is a terminal)\n"
		   "      --no-progress never show it\n",
};

#define OPT_NO_PROGRESS	0x200

static const struct option longopts[] = {
	{ "yes", no_argument, NULL, 'y' },
	{ "output", required_argument, NULL, 'o' },
	{ "force", no_argument, NULL, 'f' },
	{ "json", no_argument, NULL, 'J' },
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
 * Copy every modified unit (the units of the bitmap, but those copied
 * from the rdofile: doc/cowfile-format.md), in runs; then make the
 * rdofile durable.  Returns 0, -1 on an error (said), -2 when
 * interrupted (SIGINT, SIGTERM, SIGHUP, between two runs).
 */
static int merge(struct cowfile *cf, const struct rdofile *r, int progress,
		 uint64_t units)
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
	if (cow_map_iter_modified(&it, cf) < 0)
		goto out;
	cow_progress_init(&pg, progress, "merging", units);
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

/*
 * The units a merge writes from @cf, in how many runs; -1 (said): in
 * place, the modified ones; into a new file (@all), every unit in (a
 * copied one is the rdofile's, read from where it is nearer).
 */
static int count_runs(struct cowfile *cf, bool all, uint64_t *units,
		      uint64_t *runs)
{
	struct cow_map_iter it;
	uint64_t start, n;
	int k;

	*units = *runs = 0;
	if ((all ? cow_map_iter_init(&it, cf) :
	     cow_map_iter_modified(&it, cf)) < 0)
		return -1;
	while ((k = cow_map_iter_run(&it, &start, &n, UINT64_MAX)) > 0) {
		(*runs)++;
		*units += n;
	}
	cow_map_iter_free(&it);
	return k;
}

/* What a merge would do: what -n says. */
struct plan {
	const char *action;	/* "merge", "resume", "none", "new-file" */
	const char *output;	/* the new file of -o, or NULL */
	bool replace;		/* -o -f: it replaces an existing file */
	uint64_t units, runs;	/* from the cowfile */
};

/* -n -J: the plan in JSON, as cowmerge(8) describes it. */
static void plan_json(const struct plan *p, const struct cowfile *cf,
		      const struct rdofile *r)
{
	cow_json_begin();
	cow_json_file("rdofile", r->path);
	cow_json_file("cowfile", cf->path);
	if (p->output)
		cow_json_file("output", p->output);
	else
		cow_json_null("output");
	cow_json_text("action", p->action);
	cow_json_bool("replace", p->replace);
	cow_json_u64("blocks", p->units);
	cow_json_u64("bytes", p->units * COW_MAPUNIT);
	cow_json_u64("runs", p->runs);
	cow_json_u64("image-size", r->size);
	cow_json_end();
}

/* --dry-run: what a merge would write, in how many runs. */
static int dry_run(struct cowfile *cf, const struct rdofile *r,
		   struct plan *p, bool json)
{
	char h[16], hs[16];

	if (count_runs(cf, p->output, &p->units, &p->runs) < 0)
		return -1;
	if (json) {
		plan_json(p, cf, r);
		return 0;
	}
	cow_human(p->units * COW_MAPUNIT, h, sizeof(h));
	if (!p->output) {
		printf("%s %s: would write %llu %s (%llu bytes, %s) in %llu %s "
		       "from %s; nothing written (--dry-run)\n",
		       strcmp(p->action, "resume") ? "merge into" :
		       "completing the interrupted merge into",
		       r->path, (unsigned long long)p->units,
		       cow_plural(p->units, "block", "blocks"),
		       (unsigned long long)(p->units * COW_MAPUNIT), h,
		       (unsigned long long)p->runs,
		       cow_plural(p->runs, "run", "runs"), cf->path);
		return 0;
	}
	cow_human(r->size, hs, sizeof(hs));
	printf("merge of %s and %s into %s%s: would write an image of %llu "
	       "bytes (%s), %llu %s (%llu bytes, %s) from the cowfile in %llu "
	       "%s, the rest from the rdofile; nothing written (--dry-run)\n",
	       r->path, cf->path, p->output, p->replace ? " (replacing it)" :
	       "", (unsigned long long)r->size, hs,
	       (unsigned long long)p->units,
	       cow_plural(p->units, "block", "blocks"),
	       (unsigned long long)(p->units * COW_MAPUNIT), h,
	       (unsigned long long)p->runs, cow_plural(p->runs, "run", "runs"));
	return 0;
}

/* The units a merge writes: every unit in, unless some were copied. */
static int modified_units(struct cowfile *cf, uint64_t *units)
{
	*units = cf->hdr.cowused;
	if (!(cf->hdr.ext_flags & COW_EXT_MODMAP))
		return 0;
	return cow_modified_count(cf, units);
}

static bool confirmed(const struct cowfile *cf, const struct rdofile *r,
		      uint64_t units, bool yes)
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
		 (unsigned long long)units,
		 cow_plural(units, "block", "blocks"), cf->path,
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

/* ---- -o: the merged image to a new file ----------------------------- */

/*
 * May @path be the new file?  Not the rdofile nor the cowfile, whatever
 * the options; an existing file only with -f, a regular one, not in use
 * by a cowdevice nor locked by a tool that writes it (locked shared
 * here until the rename, through *@fd).  Returns 0, or -1 (said).
 */
static int check_output(const char *label, const char *path, bool force,
			const struct rdofile *r, const struct cowfile *cf,
			int *fd)
{
	struct stat ls, st, rs, cs;

	*fd = -1;
	if (lstat(path, &ls) < 0) {
		if (errno == ENOENT)
			return 0;
		cow_err_errno(label, NULL);
		return -1;
	}
	if (fstat(r->fd, &rs) < 0 || fstat(cf->fd, &cs) < 0) {
		cow_err_errno(label, NULL);
		return -1;
	}
	if (stat(path, &st) < 0)
		st = ls;		/* a dangling symbolic link */
	if (cow_same_file(&ls, &rs) || cow_same_file(&st, &rs) ||
	    cow_same_file(&ls, &cs) || cow_same_file(&st, &cs)) {
		cow_err(label, "is the %s: never replaced, not even with -f",
			cow_same_file(&st, &rs) ? r->label : cf->label);
		return -1;
	}
	if (!force) {
		cow_err(label, "file exists: not replaced (-f replaces it)");
		return -1;
	}
	if (!S_ISREG(ls.st_mode)) {
		cow_err(label, "%s: not replaced (only a regular file is)",
			S_ISLNK(ls.st_mode) ? "a symbolic link (name the file "
			"it points to)" : S_ISDIR(ls.st_mode) ? "a directory"
			: "not a regular file");
		return -1;
	}
	*fd = cow_open_file(label, path, O_RDONLY, COW_E_COWTYPE, &st);
	if (*fd < 0 || cow_claim(label, *fd, false) < 0)
		return -1;
	return 0;
}

struct opts {
	bool yes, dry, force, json;
	int progress;		/* -1 auto, 0 off, 1 on */
	const char *output;
};

/*
 * Write the image into the new file nf (started), with *@written the
 * blocks taken from the cowfile.  Returns 0 or -1 (said).
 */
static int write_output(struct cowfile *cf, const struct rdofile *r,
			struct cow_newfile *nf, int progress,
			uint64_t *written)
{
	int e;

	/* its size first: a file system that cannot hold it says so now */
	if (ftruncate(nf->fd, (off_t)r->size) < 0) {
		cow_err_errno(nf->label, errno == EFBIG ? "its file system "
			      "cannot hold a file this large" :
			      "cannot set its size");
		return -1;
	}
	e = cow_image_write(cf, r, nf->fd, nf->label, progress, written);
	if (e == -2)
		cow_err(nf->label, "interrupted: not written (%s and %s "
			"untouched)", r->label, cf->label);
	return e ? -1 : 0;
}

/*
 * -o: rdofile and cowfile opened read-only and locked shared; the
 * cowfile not in use at all, the rdofile not as an active cowdevice's
 * cowfile (an active rdofile is never written); the cowfile must be
 * clean and consistent, for this rdofile, as for a merge.
 */
static int merge_to_file(const struct opts *o, const char *rpath,
			 const char *cpath)
{
	char label[32 + COW_PATH_MAX];
	struct cow_newfile nf;
	struct cowfile cf;
	struct rdofile r;
	int ret = COW_EXIT_FAIL, lockfd = -1;
	uint64_t written;

	snprintf(label, sizeof(label), "output %s", o->output);
	if (rdo_open(&r, rpath, false) < 0)
		return COW_EXIT_FAIL;
	if (same_file(cpath, r.fd)) {
		cow_err(r.label, "%s", cow_strerror(COW_E_SAMEFILE));
		goto out_rdo;
	}
	if (cow_open(&cf, cpath, false) < 0)
		goto out_rdo;
	if (cow_claim_source(r.label, r.fd) < 0 ||
	    cow_claim(cf.label, cf.fd, false) < 0 ||
	    cow_check_pair(&cf, &r) < 0 ||
	    check_output(label, o->output, o->force, &r, &cf, &lockfd) < 0)
		goto out;
	if (o->dry) {
		struct plan p = { .action = "new-file", .output = o->output,
				  .replace = lockfd >= 0 };

		if (!cow_newfile_check(label, o->output) &&
		    !dry_run(&cf, &r, &p, o->json))
			ret = COW_EXIT_OK;
		goto out;
	}
	if (cow_newfile_open(&nf, label, o->output, 0666, lockfd >= 0) < 0)
		goto out;
	cow_catch_interrupts();
	if (write_output(&cf, &r, &nf, o->progress, &written) < 0) {
		cow_newfile_abort(&nf);
		goto out;
	}
	if (cow_newfile_commit(&nf) < 0)
		goto out;
	printf("Number of blocks modified in %s: %llu (%s and %s untouched)\n",
	       o->output, (unsigned long long)written, r.path, cf.path);
	ret = COW_EXIT_OK;
out:
	if (lockfd >= 0)
		close(lockfd);
	cow_close(&cf);
out_rdo:
	rdo_close(&r);
	return ret;
}

int main(int argc, char **argv)
{
	struct opts o = { .progress = -1 };
	struct cowfile cf;
	struct rdofile r;
	uint64_t units;
	bool resume;
	int c, e, ret = COW_EXIT_FAIL;

	cow_tool_init(&tool);
	while ((c = getopt_long(argc, argv, "yno:fpJ" COW_SHORTOPTS_STD,
				longopts, NULL)) != -1) {
		if (c == 'y')
			o.yes = true;
		else if (c == 'J')
			o.json = true;
		else if (c == 'n')
			o.dry = true;
		else if (c == 'o')
			o.output = optarg;
		else if (c == 'f')
			o.force = true;
		else if (c == 'p')
			o.progress = 1;
		else if (c == OPT_NO_PROGRESS)
			o.progress = 0;
		else
			cow_std_option(c);
	}
	if (o.force && !o.output)
		cow_usage_error("-f goes with -o");
	if (o.json && !o.dry)
		cow_usage_error("-J goes with -n");
	if (o.output && !*o.output)
		cow_usage_error("-o: empty file name");
	if (argc - optind != 2)
		cow_usage_error(argc - optind < 2 ? "missing rdofile or cowfile"
						  : "too many arguments");
	if (o.output)
		return merge_to_file(&o, argv[optind], argv[optind + 1]);
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
		struct plan p = { .action = "none" };

		if (check_merge_target(&cf, &r) < 0)
			goto out;
		if (o.json)
			plan_json(&p, &cf, &r);
		else
			printf("cowfile %s: already merged into %s: nothing to "
			       "do\n", cf.path, r.path);
		ret = COW_EXIT_OK;
		goto out;
	}
	if (resume ? check_merge_target(&cf, &r) < 0
		   : cow_check_pair(&cf, &r) < 0)
		goto out;
	if (o.dry) {
		struct plan p = { .action = resume ? "resume" : "merge" };

		ret = dry_run(&cf, &r, &p, o.json) < 0 ? COW_EXIT_FAIL
						       : COW_EXIT_OK;
		goto out;
	}
	if (modified_units(&cf, &units) < 0)
		goto out;
	if (units && !confirmed(&cf, &r, units, o.yes))
		goto out;
	if (resume)
		printf("cowfile %s: completing the interrupted merge into %s\n",
		       cf.path, r.path);
	else if (units && mark_merging(&cf, &r) < 0)
		goto out;
	/* from here on the rdofile is half merged until the end */
	cow_catch_interrupts();
	e = merge(&cf, &r, o.progress, units);
	if (!e && (units || resume) && mark_merged(&cf) < 0)
		e = -1;
	if (e && (units || resume)) {
		cow_err(cf.label, "merge into %s %s: run the same command "
			"again to complete it", r.path,
			e == -2 ? "interrupted" : "not completed");
		goto out;
	}
	if (e)
		goto out;
	printf("Number of blocks modified in %s: %llu\n", r.path,
	       (unsigned long long)units);
	ret = COW_EXIT_OK;
out:
	cow_close(&cf);
out_rdo:
	rdo_close(&r);
	return ret;
}
