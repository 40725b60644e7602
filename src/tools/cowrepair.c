// SPDX-License-Identifier: GPL-2.0
/*
 * cowrepair: make a dirty cowfile consistent again, or (-n) check
 * whether it needs it; the fsck of cowfiles.
 *
 * A DIRTY cowfile written by this project's driver (extension flag
 * ORDERED) is consistent up to its last flush: only cowused is recounted,
 * and the data area is not read even with -f (data there without a bit
 * was written after the last flush; --scan-data scans it anyway).  One
 * written by the original driver needs the full repair: every unit of
 * the data area holding non-zero data gets its bit set.  The scan
 * follows the data extents (SEEK_DATA/SEEK_HOLE), and the bitmap is read
 * extent by extent too: time and memory follow what was written, not the
 * rdofile's size.  Bits are never cleared, except bits beyond the last
 * unit, which cannot be valid, and, with -y only, bits of units beyond
 * the end of the file, whose data is lost (a crash of the original
 * driver, a truncated copy).  The bitmap is made durable before DIRTY is
 * cleared.
 *
 * Options and exit status as fsck's and e2fsck's: -n checks only, -p
 * (preen) repairs what loses nothing without asking, -y repairs
 * everything; 0 nothing to repair, 1 repaired, 4 repair needed and not
 * done, 8 operational error, 16 usage error, 32 cancelled.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cowlib.h"

#define EXIT_REPAIRED	1	/* errors corrected */
#define EXIT_NEEDED	4	/* errors left uncorrected */
#define EXIT_ERROR	8	/* operational error */
#define EXIT_USAGE	16	/* usage or syntax error */
#define EXIT_CANCELLED	32	/* cancelled by user request */

static const struct cow_tool tool = {
	.name = "cowrepair",
	.synopsis = "[-fnpvy] [-C] [--scan-data] cowfile\n"
		    "-n -J [-f] [--scan-data] cowfile",
	.summary = "Repair a cowfile that was not closed properly (state 'dirty'),\n"
		   "or check with -n whether it needs a repair.  Exit status as\n"
		   "fsck's: 0 nothing to repair, 1 repaired, 4 repair needed and not\n"
		   "done, 8 operational error, 16 usage error, 32 cancelled.",
	.options = "  -f, --force       repair even a clean cowfile: recount the\n"
		   "                    blocks in use, clear bits beyond the last\n"
		   "                    block, scan the data area (not of an\n"
		   "                    ordered cowfile: see --scan-data)\n"
		   "  -n, --dry-run     check only: change nothing, say what would\n"
		   "                    be corrected; exit 4 when a repair is needed\n"
		   "  -J, --json        with -n: say what was found and what a repair\n"
		   "                    would do in JSON (see cowrepair(8))\n"
		   "  -p, --preen       repair without asking what can be repaired\n"
		   "                    without losing data: a dirty cowfile, and a\n"
		   "                    clean one's count of blocks in use and bits\n"
		   "                    beyond the last block (as fsck -p)\n"
		   "  -y, --yes         repair everything, also what loses data: drop\n"
		   "                    the blocks the bitmap lists beyond the end\n"
		   "                    of the file (listed), as e2fsck -y\n"
		   "      --scan-data   scan the data area of an ordered cowfile too,\n"
		   "                    setting bits for data written after its last\n"
		   "                    flush (only for a cowfile the original\n"
		   "                    cowloop driver used last)\n"
		   "  -C, --progress    with a scan of the data area: show the block\n"
		   "                    reached, of all, and the rate (the default\n"
		   "                    when standard error is a terminal)\n"
		   "      --no-progress never show it\n"
		   "  -v, --verbose     list every correction\n",
	.usage_status = EXIT_USAGE,
	.fail_status = EXIT_ERROR,
};

#define OPT_SCAN_DATA	0x200
#define OPT_NO_PROGRESS	0x201

static const struct option longopts[] = {
	{ "force", no_argument, NULL, 'f' },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "preen", no_argument, NULL, 'p' },
	{ "yes", no_argument, NULL, 'y' },
	{ "scan-data", no_argument, NULL, OPT_SCAN_DATA },
	{ "verbose", no_argument, NULL, 'v' },
	{ "json", no_argument, NULL, 'J' },
	{ "progress", no_argument, NULL, 'C' },
	{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
	COW_LONGOPTS_STD,
	{ NULL, 0, NULL, 0 }
};

struct repair {
	struct cowfile cf;
	bool verbose, dryrun, force, scan_data, preen, yes, json;
	bool scanned;		/* the data area was scanned */
	int progress;		/* -1 auto, 0 off, 1 on */
	struct cow_progress pg;
	uint64_t set, cleared;	/* bits set by the scan, cleared in the tail */
	uint64_t dropped;	/* bits of lost units cleared (-y) */
};

/* A line of the report for people: none with -J, which says it all. */
static void __attribute__((format(printf, 2, 3)))
say(const struct repair *rp, const char *fmt, ...)
{
	va_list ap;

	if (rp->json)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

/*
 * -n -J: what was found and what a repair would do, in JSON, as
 * cowrepair(8) describes it.  @st is the bitmap as it is, rp->set the
 * bits a scan found; @needed: exit 4.
 */
static void report_json(const struct repair *rp, const struct cow_map_stat *st,
			bool needed)
{
	const struct cowfile *cf = &rp->cf;

	cow_json_begin();
	cow_json_file("filename", cf->path);
	cow_json_text("state", cf->hdr.flags & COW_F_DIRTY ? "dirty" : "clean");
	cow_json_bool("ordered", cf->hdr.ext_flags & COW_EXT_ORDERED);
	cow_json_bool("repair-needed", needed);
	cow_json_bool("damaged", st->missing);
	cow_json_bool("data-area-scanned", rp->scanned);
	cow_json_u64("cowblocks-in-use", cf->hdr.cowused);
	cow_json_u64("bits-set", st->weight);
	cow_json_u64("bits-to-set", rp->set);
	cow_json_u64("bits-to-clear", st->tail);
	cow_json_u64("blocks-missing", st->missing);
	cow_json_u64_or_null("first-missing-block", st->missing,
			     st->first_missing);
	cow_json_u64("cowblocks-after-repair",
		     st->weight + rp->set - st->tail - st->missing);
	cow_json_end();
}

/* "set" or "would be set" */
static const char *done(const struct repair *rp, const char *what)
{
	static char s[32];

	snprintf(s, sizeof(s), "%s%s", rp->dryrun ? "would be " : "", what);
	return s;
}

static int scan_unit(void *ctx, uint64_t unit, const uint8_t *data)
{
	struct repair *rp = ctx;
	int r;

	if (cow_interrupted)
		return 1;
	cow_progress_set(&rp->pg, unit + 1);
	if (cow_unit_zero(data))
		return 0;
	r = cow_map_set(&rp->cf, unit);
	if (r <= 0)
		return r;
	rp->set++;
	if (rp->verbose)
		say(rp, "block %llu: modified data not in bitmap: bit %s\n",
		       (unsigned long long)unit, done(rp, "set"));
	return 0;
}

/* Set a bit for every unit of the data area that is not all zeroes. */
static int scan_data(struct repair *rp)
{
	struct cowfile *cf = &rp->cf;

	cow_progress_init(&rp->pg, rp->progress, "scanning", cf->hdr.rdoblocks);
	if (cow_scan_units(cf->fd, cf->hdr.doffset, cf->hdr.rdoblocks,
			   scan_unit, rp) < 0) {
		cow_err_errno(cf->label, "cannot read data area");
		return -1;
	}
	if (cow_interrupted)
		return 0;
	cow_progress_set(&rp->pg, cf->hdr.rdoblocks);
	cow_progress_end(&rp->pg);
	return 0;
}

/* Bits beyond the last unit cannot be valid: cleared. */
static int clear_tail(struct repair *rp)
{
	struct cowfile *cf = &rp->cf;
	uint64_t u;
	int r;

	for (u = cf->hdr.rdoblocks; u < cf->hdr.mapsize * 8; u++) {
		r = cow_map_clear(cf, u);
		if (r < 0)
			return -1;
		if (!r)
			continue;
		rp->cleared++;
		if (rp->verbose)
			say(rp, "block %llu: beyond the last block: bit %s\n",
			       (unsigned long long)u, done(rp, "cleared"));
	}
	return 0;
}

/* Append "A-B" or "A" (and ", " before all but the first) to @s. */
static void add_range(char **s, size_t *len, size_t *cap, uint64_t a,
		      uint64_t b)
{
	char part[64];
	size_t n = (size_t)snprintf(part, sizeof(part), "%s%llu", *len ?
				    ", " : "", (unsigned long long)a);
	char *ns;

	if (b > a)
		n += (size_t)snprintf(part + n, sizeof(part) - n, "-%llu",
				      (unsigned long long)b);
	if (*len + n + 1 > *cap) {
		*cap = (*cap + n + 1) * 2;
		ns = realloc(*s, *cap);
		if (!ns)
			return;		/* the list is cut short, not wrong */
		*s = ns;
	}
	memcpy(*s + *len, part, n + 1);
	*len += n;
}

/*
 * -y: clear the bits of units the file does not hold (lost: a set bit
 * beyond the file's end, under the last unit), and list them, in ranges.
 */
static int drop_lost(struct repair *rp)
{
	struct cowfile *cf = &rp->cf;
	uint64_t present = cow_units_present(cf), start, n, i;
	struct cow_map_iter it;
	size_t len = 0, cap = 0;
	char *list = NULL;
	int r;

	if (cow_map_iter_init(&it, cf) < 0)
		return -1;
	it.next = present;
	while ((r = cow_map_iter_run(&it, &start, &n, UINT64_MAX)) > 0 &&
	       start < cf->hdr.rdoblocks) {
		if (n > cf->hdr.rdoblocks - start)
			n = cf->hdr.rdoblocks - start;
		for (i = 0; i < n && r >= 0; i++)
			if (cow_map_clear(cf, start + i) < 0)
				r = -1;
		if (r < 0)
			break;
		rp->dropped += n;
		add_range(&list, &len, &cap, start, start + n - 1);
	}
	cow_map_iter_free(&it);
	if (r >= 0 && rp->dropped)
		printf("cowfile %s: dropped %llu %s beyond the end of the file "
		       "(their data is lost): %s\n", cf->path,
		       (unsigned long long)rp->dropped,
		       cow_plural(rp->dropped, "block", "blocks"),
		       list ? list : "");
	free(list);
	return r < 0 ? -1 : 0;
}

/* -n's last line: what a repair would change, or that none is needed. */
static int check_summary(const struct repair *rp, const struct cow_map_stat *st,
			 bool dirty, uint64_t weight)
{
	const struct cowfile *cf = &rp->cf;
	bool count = weight != cf->hdr.cowused;
	bool needed = dirty || rp->set || rp->cleared || count;

	if (rp->json) {
		report_json(rp, st, needed);
		return needed ? EXIT_NEEDED : COW_EXIT_OK;
	}
	if (!needed) {
		printf("cowfile %s: consistent, no repair needed\n", cf->path);
		return COW_EXIT_OK;
	}
	printf("cowfile %s: repair needed:", cf->path);
	if (dirty)
		printf(" dirty state would be cleared;");
	if (rp->set)
		printf(" %llu %s would be set;", (unsigned long long)rp->set,
		       cow_plural(rp->set, "bit", "bits"));
	if (rp->cleared)
		printf(" %llu %s beyond the last block would be cleared;",
		       (unsigned long long)rp->cleared,
		       cow_plural(rp->cleared, "bit", "bits"));
	if (count)
		printf(" cowblocks in use would be corrected from %llu to %llu;",
		       (unsigned long long)cf->hdr.cowused,
		       (unsigned long long)weight);
	printf(" not modified (-n)\n");
	return EXIT_NEEDED;
}

/* A clean cowfile, only checked: say whether it is consistent. */
static int not_dirty(struct repair *rp, const struct cow_map_stat *st)
{
	struct cowfile *cf = &rp->cf;
	int e = st->tail ? COW_E_BITMAP_TAIL :
		st->weight != cf->hdr.cowused ? COW_E_BITMAP : COW_OK;

	if (rp->json) {
		report_json(rp, st, e);
		return e ? EXIT_NEEDED : COW_EXIT_OK;
	}
	printf("cowfile %s is not dirty\n", cf->path);
	if (e)
		cow_map_refuse(cf, e, st);
	if (rp->dryrun)
		printf(e ? "cowfile %s: repair needed: run cowrepair -f; not "
		       "modified (-n)\n" : "cowfile %s: consistent, no repair "
		       "needed\n", cf->path);
	return e ? EXIT_NEEDED : COW_EXIT_OK;
}

/* What the repair is about to do, in one line (or none). */
static void say_what(const struct repair *rp, bool dirty, bool ordered,
		     bool scan)
{
	const struct cowfile *cf = &rp->cf;

	if (dirty && !ordered)
		say(rp, "cowfile %s: written by the original cowloop: "
		       "scanning the whole data area\n", cf->path);
	else if (dirty && !scan)
		say(rp, "cowfile %s: bitmap valid up to the last flush (ordered): "
		       "only cowused recounted, data area not read\n", cf->path);
	else if (!dirty && !rp->force && !rp->scan_data)
		say(rp, "cowfile %s is not dirty\n", cf->path);	/* -p, -y */
	else if (ordered && !scan)
		say(rp, "cowfile %s: ordered: data area not read (data there "
		       "without a bit was written after the last flush; "
		       "--scan-data adds it)\n", cf->path);
	else if (ordered)
		say(rp, "cowfile %s: ordered, but scanning the whole data area "
		       "(--scan-data): data written after the last flush "
		       "becomes part of the cowdevice\n", cf->path);
}

static int cancel(const struct cowfile *cf)
{
	cow_err(cf->label, "interrupted: not modified");
	return EXIT_CANCELLED;
}

/* The repair itself, on an open cowfile whose bitmap @st describes. */
static int repair(struct repair *rp, const struct cow_map_stat *st)
{
	struct cowfile *cf = &rp->cf;
	bool dirty = cf->hdr.flags & COW_F_DIRTY;
	bool ordered = cf->hdr.ext_flags & COW_EXT_ORDERED;
	bool scan = rp->scan_data || (!ordered && (dirty || rp->force));
	uint64_t weight, fixed;

	rp->scanned = scan;
	say_what(rp, dirty, ordered, scan);
	if (st->missing && drop_lost(rp) < 0)
		return EXIT_ERROR;
	if (scan && scan_data(rp) < 0)
		return EXIT_ERROR;
	if (cow_interrupted)
		return cancel(cf);
	if (clear_tail(rp) < 0)
		return EXIT_ERROR;
	weight = st->weight + rp->set - rp->cleared - rp->dropped;
	fixed = rp->set + rp->cleared + rp->dropped;
	/* a dirty cowfile's count is expected to be stale; a clean one's not */
	if (weight != cf->hdr.cowused &&
	    (rp->verbose || (!dirty && st->weight != cf->hdr.cowused)))
		say(rp, "cowblocks in use: header says %llu, bitmap has %llu: "
		       "%s\n", (unsigned long long)cf->hdr.cowused,
		       (unsigned long long)weight, done(rp, "corrected"));
	if (!dirty && !fixed && weight == cf->hdr.cowused && !rp->force &&
	    !rp->scan_data)
		return COW_EXIT_OK;	/* -p, -y: said "not dirty" */
	say(rp, "number of corrections in bitmap: %llu\n",
	       (unsigned long long)fixed);
	if (rp->dryrun)
		return check_summary(rp, st, dirty, weight);
	/* nothing to write; but --scan-data makes the modified map anew */
	if (!dirty && !fixed && weight == cf->hdr.cowused &&
	    !(rp->scan_data && (cf->hdr.ext_flags & COW_EXT_MODMAP)))
		return COW_EXIT_OK;
	if (cow_interrupted)
		return cancel(cf);
	/*
	 * bitmap durable first, and the modified map made from it (a unit
	 * rewritten since it was copied may lack its modified bit), then
	 * the header that says it is clean
	 */
	if (cow_map_write(cf) < 0 || cow_modmap_rebuild(cf) < 0)
		return EXIT_ERROR;
	if (cf->hdr.ext_flags & COW_EXT_MODMAP)
		say(rp, "cowfile %s: every block in the cowfile now counts as "
		    "modified (the modified map is made from the bitmap)\n",
		    cf->path);
	cf->hdr.cowused = weight;
	cf->hdr.flags &= (__u16)~COW_F_DIRTY;
	return cow_hdr_write(cf) < 0 ? EXIT_ERROR : EXIT_REPAIRED;
}

/* Why this cowfile is not repaired at all, or 0. */
static int refused(struct repair *rp, const struct cow_map_stat *st)
{
	struct cowfile *cf = &rp->cf;
	int e = cow_hdr_check_state(&cf->hdr);

	/* a merge sets DIRTY too: clearing it would hide a half merge */
	if (e == COW_E_PACKED || e == COW_E_MERGING || e == COW_E_MERGED) {
		cow_err(cf->label, "%s: not repaired", cow_strerror(e));
		return EXIT_ERROR;
	}
	if (st->missing && !rp->yes && rp->json) {
		report_json(rp, st, true);
		return EXIT_NEEDED;
	}
	if (st->missing && !rp->yes) {
		cow_map_refuse(cf, COW_E_TRUNCATED, st);
		printf("cowfile %s: damaged: %llu %s the bitmap lists %s "
		       "missing; %s\n", cf->path,
		       (unsigned long long)st->missing,
		       cow_plural(st->missing, "block", "blocks"),
		       st->missing == 1 ? "is" : "are",
		       rp->dryrun ? "not modified (-n)" :
		       st->missing == 1 ? "not repaired (cowrepair -y drops it)" :
		       "not repaired (cowrepair -y drops them)");
		return EXIT_NEEDED;
	}
	return 0;
}

static void options(struct repair *rp, int argc, char **argv)
{
	int c;

	while ((c = getopt_long(argc, argv, "fnpyvCJ" COW_SHORTOPTS_STD,
				longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			rp->force = true;
			break;
		case 'n':
			rp->dryrun = true;
			break;
		case 'p':
			rp->preen = true;
			break;
		case 'y':
			rp->yes = true;
			break;
		case 'v':
			rp->verbose = true;
			break;
		case 'J':
			rp->json = true;
			break;
		case OPT_SCAN_DATA:
			rp->scan_data = true;
			break;
		case 'C':
			rp->progress = 1;
			break;
		case OPT_NO_PROGRESS:
			rp->progress = 0;
			break;
		default:
			cow_std_option(c);
		}
	}
	if (rp->dryrun + rp->preen + rp->yes > 1)
		cow_usage_error("only one of -n, -p and -y");
	if (rp->json && !rp->dryrun)
		cow_usage_error("-J goes with -n");
	if (rp->json && rp->verbose)
		cow_usage_error("-v does not go with -J (which lists no block)");
	if (argc - optind != 1)
		cow_usage_error(optind < argc ? "too many arguments"
					      : "missing cowfile");
}

int main(int argc, char **argv)
{
	struct repair rp;
	struct cowfile *cf = &rp.cf;
	struct cow_map_stat st;
	int ret;

	memset(&rp, 0, sizeof(rp));
	rp.progress = -1;
	cow_tool_init(&tool);
	options(&rp, argc, argv);
	cow_catch_interrupts();
	if (cow_open(cf, argv[optind], !rp.dryrun) < 0)
		return EXIT_ERROR;
	if (cow_claim(cf->label, cf->fd, !rp.dryrun) < 0 ||
	    (!rp.dryrun && cow_refuse_loop(cf->label, cf->fd) < 0))
		ret = EXIT_ERROR;
	else if (cow_map_stat(cf, &st) < 0)
		ret = EXIT_ERROR;
	else if (!(ret = refused(&rp, &st)))
		ret = !(cf->hdr.flags & COW_F_DIRTY) && !rp.force &&
		      !rp.scan_data && !rp.preen && !rp.yes ?
		      not_dirty(&rp, &st) : repair(&rp, &st);
	cow_close(cf);
	return ret;
}
