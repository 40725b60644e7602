// SPDX-License-Identifier: GPL-2.0
/*
 * cowlist: show the header of a cowfile, as the original cowlist did.
 * Values are right-aligned in one column, as wide as the widest value
 * needs (10 characters, the original's, for everyday sizes).  --map
 * lists the modified extents instead (as qemu-img map): the bitmap's
 * runs of set bits, read extent by extent, never held whole.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cowlib.h"

static const struct cow_tool tool = {
	.name = "cowlist",
	.synopsis = "[-v] [-J] cowfile\n-m [-J] [-n] cowfile",
	.summary = "Show the information in the header of a cowfile, or (-m) its\n"
		   "modified extents.",
	.options = "  -v, --verbose     also show the layout, the ORDERED flag, the\n"
		   "                    exact rdofile size, the fingerprint, and the\n"
		   "                    cowfile's size and disk usage, with sizes\n"
		   "                    also human-readable\n"
		   "  -J, --json        everything -v shows, in JSON (see cowlist(8));\n"
		   "                    with -m, the extents as a JSON array\n"
		   "  -m, --map         list the modified extents of the cowdevice:\n"
		   "                    offset and length in bytes, one run of\n"
		   "                    modified blocks a line (an active cowdevice's\n"
		   "                    cowfile: as of its last sync)\n"
		   "  -n, --noheadings  with -m: no heading and no summary line\n",
};

static const struct option longopts[] = {
	{ "verbose", no_argument, NULL, 'v' },
	{ "json", no_argument, NULL, 'J' },
	{ "map", no_argument, NULL, 'm' },
	{ "noheadings", no_argument, NULL, 'n' },
	COW_LONGOPTS_STD,
	{ NULL, 0, NULL, 0 }
};

#define MAXLINES	16
#define MINWIDTH	10	/* the original's value column */

struct line {
	const char *label;
	char value[32];
	char suffix[48];
};

struct report {
	struct line l[MAXLINES];
	int n;
};

static struct line *add(struct report *r, const char *label)
{
	struct line *l = &r->l[r->n++];

	l->label = label;
	return l;
}

static void add_s(struct report *r, const char *label, const char *v)
{
	snprintf(add(r, label)->value, sizeof(r->l[0].value), "%s", v);
}

static void add_u(struct report *r, const char *label, uint64_t v,
		  const char *suffix)
{
	struct line *l = add(r, label);

	snprintf(l->value, sizeof(l->value), "%llu", (unsigned long long)v);
	snprintf(l->suffix, sizeof(l->suffix), "%s", suffix);
}

/* "N bytes (1.4 MiB)" */
static void add_bytes(struct report *r, const char *label, uint64_t v)
{
	char h[16];

	cow_human(v, h, sizeof(h));
	add_u(r, label, v, "");
	snprintf(r->l[r->n - 1].suffix, sizeof(r->l[0].suffix),
		 " bytes (%s)", h);
}

static void print(const struct report *r)
{
	int i, w = MINWIDTH;

	for (i = 0; i < r->n; i++)
		if ((int)strlen(r->l[i].value) + 1 > w)
			w = (int)strlen(r->l[i].value) + 1;
	for (i = 0; i < r->n; i++)
		printf("%18s:%*s%s\n", r->l[i].label, w, r->l[i].value,
		       r->l[i].suffix);
}

static const char *state(const struct cow_hdr *h)
{
	if (h->ext_flags & COW_EXT_MERGING)
		return "merging";	/* DIRTY too */
	if (h->ext_flags & COW_EXT_MERGED)
		return "merged";
	if (h->flags & COW_F_DIRTY)
		return "dirty";
	if (h->flags & COW_F_PACKED)
		return "packed";
	return "clean";
}

static void report(const struct cowfile *cf, const struct stat *st,
		   bool verbose, uint64_t modified)
{
	const struct cow_hdr *h = &cf->hdr;
	static const char kb[] = " (of 1024 bytes)";
	struct report r = { .n = 0 };
	char v[32];

	printf("Info about cowfile %s:\n", cf->path);
	add_s(&r, "state cowfile", state(h));
	add_u(&r, "header-version", h->version, "");
	add_u(&r, "data offset", h->doffset, "");
	add_u(&r, "mapunit", h->mapunit, "");
	add_u(&r, "bitmap-blocks", h->mapsize / COW_MAPUNIT, kb);
	add_u(&r, "cowblocks in use", h->cowused, kb);
	add_u(&r, "size rdofile", h->rdoblocks, kb);
	if (verbose) {
		add_s(&r, "layout",
		      h->layout == COW_LAYOUT_ILP32 ? "i386" : "x86_64");
		add_s(&r, "ordered",
		      h->ext_flags & COW_EXT_ORDERED ? "yes" : "no");
		if (h->rdosize)
			add_bytes(&r, "exact size rdofile", h->rdosize);
		else
			add_s(&r, "exact size rdofile", "unknown");
		snprintf(v, sizeof(v), "0x%llx",
			 (unsigned long long)h->fingerprint);
		add_s(&r, "rdofingerprint", v);
		if (h->ext_flags & COW_EXT_MERGE_ANY) {
			snprintf(v, sizeof(v), "0x%llx",
				 (unsigned long long)h->mergefp);
			add_s(&r, "merged fingerprint", v);
		}
		add_bytes(&r, "data in use", h->cowused * COW_MAPUNIT);
		if (h->ext_flags & COW_EXT_MODMAP) {
			add_u(&r, "modified blocks", modified, kb);
			add_u(&r, "copied blocks", h->cowused - modified,
			      " (from the rdofile)");
		}
		add_bytes(&r, "size cowfile", (uint64_t)st->st_size);
		add_bytes(&r, "disk usage", (uint64_t)st->st_blocks * 512);
	}
	print(&r);
}

/* Keys and values after qemu-img info --output=json. */
static void report_json(const struct cowfile *cf, const struct stat *st,
			uint64_t modified)
{
	const struct cow_hdr *h = &cf->hdr;
	char v[32];

	cow_json_begin();
	cow_json_file("filename", cf->path);
	cow_json_text("format", "cowfile");
	cow_json_text("state", state(h));
	cow_json_u64("header-version", h->version);
	cow_json_u64("data-offset", h->doffset);
	cow_json_u64("mapunit", h->mapunit);
	cow_json_u64("bitmap-blocks", h->mapsize / COW_MAPUNIT);
	cow_json_u64("cowblocks-in-use", h->cowused);
	cow_json_u64("modified-blocks", modified);
	cow_json_u64("copied-blocks", h->cowused - modified);
	cow_json_u64("rdofile-blocks", h->rdoblocks);
	cow_json_u64("virtual-size", h->rdoblocks * COW_MAPUNIT);
	cow_json_text("layout", h->layout == COW_LAYOUT_ILP32 ? "i386" : "x86_64");
	cow_json_bool("ordered", h->ext_flags & COW_EXT_ORDERED);
	cow_json_u64_or_null("rdofile-size", h->rdosize, h->rdosize);
	snprintf(v, sizeof(v), "0x%llx", (unsigned long long)h->fingerprint);
	cow_json_text("rdofingerprint", v);
	if (h->ext_flags & COW_EXT_MERGE_ANY) {
		snprintf(v, sizeof(v), "0x%llx", (unsigned long long)h->mergefp);
		cow_json_text("merged-fingerprint", v);
	}
	cow_json_u64("cowfile-size", (uint64_t)st->st_size);
	cow_json_u64("actual-size", (uint64_t)st->st_blocks * 512);
	cow_json_end();
}

/*
 * Does the bitmap agree with the header and the file, as the other tools
 * require?  Returns the reason (COW_OK), with @st, or -1 (said).  Only
 * where it must: not for a dirty cowfile (its count is stale until a
 * repair, as the state says) or a packed one; not while another tool
 * writes the cowfile (it is locked) or a cowdevice uses it (the driver
 * changes it), which are said or shown elsewhere.
 */
static int check_map(struct cowfile *cf, struct cow_map_stat *st)
{
	const struct cow_hdr *h = &cf->hdr;
	unsigned int devno;
	const char *as;
	struct stat fst;
	int r;

	if (h->flags & COW_F_PACKED ||
	    ((h->flags & COW_F_DIRTY) && !(h->ext_flags & COW_EXT_MERGE_ANY)))
		return COW_OK;
	r = cow_lock_try(cf->fd, cf->label, false);
	if (r > 0)
		cow_err(cf->label, COW_LOCKED ": bitmap not checked");
	if (r)
		return r < 0 ? -1 : COW_OK;
	if (fstat(cf->fd, &fst) < 0) {
		cow_err_errno(cf->label, NULL);
		return -1;
	}
	r = cow_active_user(&fst, &devno, &as);
	if (r)
		return r < 0 ? -1 : COW_OK;
	return cow_map_check(cf, st);
}

/* ---- --map ---------------------------------------------------------- */

struct map_out {
	bool json, headings;
	int width;		/* of each column: the device's size in digits */
	uint64_t runs, bytes;
};

static void map_begin(struct map_out *o, const char *path, uint64_t size)
{
	char digits[32];

	o->width = snprintf(digits, sizeof(digits), "%llu",
			    (unsigned long long)size);
	if (o->width < (int)strlen("offset"))
		o->width = (int)strlen("offset");
	if (o->json) {
		putchar('[');
	} else if (o->headings) {
		printf("Modified extents of cowfile %s:\n", path);
		printf("%*s  %*s\n", o->width, "offset", o->width, "length");
	}
}

/* An extent: @n units from unit @u. */
static void map_extent(struct map_out *o, uint64_t u, uint64_t n)
{
	unsigned long long off = u * COW_MAPUNIT, len = n * COW_MAPUNIT;

	if (o->json)
		printf("%s\n    {\"offset\": %llu, \"length\": %llu}",
		       o->runs ? "," : "", off, len);
	else
		printf("%*llu  %*llu\n", o->width, off, o->width, len);
	o->runs++;
	o->bytes += len;
}

static void map_end(const struct map_out *o)
{
	char h[16];

	if (o->json) {
		printf("%s]\n", o->runs ? "\n" : "");
	} else if (o->headings) {
		cow_human(o->bytes, h, sizeof(h));
		printf("%llu %s, %llu bytes (%s) modified\n",
		       (unsigned long long)o->runs,
		       cow_plural(o->runs, "extent", "extents"),
		       (unsigned long long)o->bytes, h);
	}
}

/*
 * May the map of @cf be read?  Locked shared against the tools that
 * write it; a cowfile an active cowdevice uses is read as its last sync
 * left it (the driver writes only durable data's bits: every one on
 * disk is valid), said on stderr; any other must be final: clean (or
 * merging, merged: the bitmap no merge changes) and consistent.
 * Returns 0, or -1 (said).
 */
static int map_check(struct cowfile *cf)
{
	struct cow_map_stat ms;
	unsigned int devno;
	const char *as;
	struct stat st;
	int e;

	if (cow_lock(cf->fd, cf->label, false))
		return -1;
	if (fstat(cf->fd, &st) < 0) {
		cow_err_errno(cf->label, NULL);
		return -1;
	}
	e = cow_active_user(&st, &devno, &as);
	if (e < 0)
		return -1;
	if (e && !strcmp(as, "cowfile")) {
		cow_err(cf->label, "in use by /dev/cow/%u: the map is as of its "
			"last sync (cowsync writes the current one)", devno);
		return 0;
	}
	e = cow_hdr_check_state(&cf->hdr);
	if (e == COW_E_PACKED || e == COW_E_DIRTY) {
		cow_err(cf->label, "%s", cow_strerror(e));
		return -1;
	}
	e = cow_map_check(cf, &ms);
	if (e > 0)
		cow_map_refuse(cf, e, &ms);
	return e ? -1 : 0;
}

/* --map: the runs of set bits, as byte extents of the cowdevice. */
static int map(const char *path, bool json, bool headings)
{
	struct map_out o = { .json = json, .headings = headings };
	struct cow_map_iter it;
	struct cowfile cf;
	struct stat st;
	uint64_t u, n;
	int r = -1;

	/* what cowdev -a leaves before the driver writes a header */
	if (!stat(path, &st) && S_ISREG(st.st_mode) && !st.st_size) {
		map_begin(&o, path, 0);
		map_end(&o);
		return COW_EXIT_OK;
	}
	if (cow_open(&cf, path, false) < 0)
		return COW_EXIT_FAIL;
	if (map_check(&cf) < 0 || cow_map_iter_modified(&it, &cf) < 0)
		goto out;
	map_begin(&o, path, cf.hdr.rdoblocks * COW_MAPUNIT);
	while ((r = cow_map_iter_run(&it, &u, &n, UINT64_MAX)) > 0 &&
	       u < cf.hdr.rdoblocks)	/* an active one's tail: not checked */
		map_extent(&o, u, n < cf.hdr.rdoblocks - u ? n :
			   cf.hdr.rdoblocks - u);
	if (r >= 0)
		map_end(&o);
	cow_map_iter_free(&it);
out:
	cow_close(&cf);
	return r < 0 ? COW_EXIT_FAIL : COW_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct cow_map_stat ms;
	struct cowfile cf;
	struct stat st;
	uint64_t modified;
	bool verbose = false, json = false, domap = false, noheadings = false;
	int c, e;

	cow_tool_init(&tool);
	while ((c = getopt_long(argc, argv, "vJmn" COW_SHORTOPTS_STD, longopts,
				NULL)) != -1) {
		if (c == 'v')
			verbose = true;
		else if (c == 'J')
			json = true;
		else if (c == 'm')
			domap = true;
		else if (c == 'n')
			noheadings = true;
		else
			cow_std_option(c);
	}
	if (noheadings && !domap)
		cow_usage_error("-n goes with -m");
	if (verbose && domap)
		cow_usage_error("-v does not go with -m");
	if (argc - optind != 1)
		cow_usage_error(optind < argc ? "too many arguments"
					      : "missing cowfile");
	if (domap)
		return map(argv[optind], json, !noheadings);
	/* what cowdev -a leaves before the driver writes a header */
	if (!stat(argv[optind], &st) && S_ISREG(st.st_mode) && !st.st_size) {
		if (json) {
			cow_json_begin();
			cow_json_file("filename", argv[optind]);
			cow_json_text("format", "cowfile");
			cow_json_text("state", "empty");
			cow_json_end();
			return COW_EXIT_OK;
		}
		printf("Info about cowfile %s: empty (a new cowfile: cowdev -a "
		       "writes its header)\n", argv[optind]);
		return COW_EXIT_OK;
	}
	if (cow_open(&cf, argv[optind], false) < 0)
		return COW_EXIT_FAIL;
	e = check_map(&cf, &ms);
	if (e >= 0 && fstat(cf.fd, &st) < 0) {
		cow_err_errno(cf.label, NULL);
		e = -1;
	}
	/* with copied blocks, the modified ones are counted: a full read */
	modified = cf.hdr.cowused;
	if (e >= 0 && (verbose || json) &&
	    (cf.hdr.ext_flags & COW_EXT_MODMAP) &&
	    cow_modified_count(&cf, &modified) < 0)
		e = -1;
	if (modified > cf.hdr.cowused)	/* a dirty one's count is stale */
		modified = cf.hdr.cowused;
	if (e >= 0 && json)
		report_json(&cf, &st, modified);
	else if (e >= 0)
		report(&cf, &st, verbose, modified);
	if (e > 0)
		cow_map_refuse(&cf, e, &ms);
	cow_close(&cf);
	return e ? COW_EXIT_FAIL : COW_EXIT_OK;
}
