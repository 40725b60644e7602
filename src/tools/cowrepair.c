// SPDX-License-Identifier: GPL-2.0
/*
 * cowrepair: make a dirty cowfile consistent again.
 *
 * A DIRTY cowfile written by this project's driver (extension flag
 * ORDERED) is consistent up to its last flush: only cowused is recounted.
 * One written by the original driver needs the full repair: every unit
 * of the data area holding non-zero data gets its bit set.  The scan
 * follows the data extents (SEEK_DATA/SEEK_HOLE), not the logical size.
 * Bits are never cleared, except bits beyond the last unit, which cannot
 * be valid.  The bitmap is made durable before DIRTY is cleared.
 */
#include <stdio.h>
#include <stdlib.h>
#include "cowlib.h"

static const struct cow_tool tool = {
	.name = "cowrepair",
	.synopsis = "[-fnv] cowfile",
	.summary = "Repair a cowfile that was not closed properly (state 'dirty').",
	.options = "  -f, --force       repair even a clean cowfile, scanning the\n"
		   "                    whole data area\n"
		   "  -n, --dry-run     change nothing, only report (fake mode)\n"
		   "  -v, --verbose     list every correction\n",
};

static const struct option longopts[] = {
	{ "force", no_argument, NULL, 'f' },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "verbose", no_argument, NULL, 'v' },
	COW_LONGOPTS_STD,
	{ NULL, 0, NULL, 0 }
};

struct repair {
	struct cowfile cf;
	bool verbose;
	uint64_t corrections;	/* bits set or cleared */
};

static int scan_unit(void *ctx, uint64_t unit, const uint8_t *data)
{
	struct repair *rp = ctx;

	if (cow_unit_zero(data) || !cow_map_set(&rp->cf, unit))
		return 0;
	rp->corrections++;
	if (rp->verbose)
		printf("block %llu: modified data not in bitmap: bit set\n",
		       (unsigned long long)unit);
	return 0;
}

/* Set a bit for every unit of the data area that is not all zeroes. */
static int scan_data(struct repair *rp)
{
	struct cowfile *cf = &rp->cf;

	if (cow_scan_units(cf->fd, cf->hdr.doffset, cf->hdr.rdoblocks,
			   scan_unit, rp) < 0) {
		cow_err_errno(cf->label, "cannot read data area");
		return -1;
	}
	return 0;
}

/* Bits beyond the last unit cannot be valid: the only ones we clear. */
static void clear_tail(struct repair *rp)
{
	struct cowfile *cf = &rp->cf;
	uint64_t u;

	for (u = cf->hdr.rdoblocks; u < cf->hdr.mapsize * 8; u++) {
		if (!cow_map_clear(cf, u))
			continue;
		rp->corrections++;
		if (rp->verbose)
			printf("block %llu: beyond the last block: bit cleared\n",
			       (unsigned long long)u);
	}
}

int main(int argc, char **argv)
{
	struct repair rp = { .verbose = false };
	struct cowfile *cf = &rp.cf;
	bool force = false, dryrun = false, dirty, full;
	uint64_t weight;
	int c, state;

	cow_tool_init(&tool);
	while ((c = getopt_long(argc, argv, "fnv", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case 'n':
			dryrun = true;
			break;
		case 'v':
			rp.verbose = true;
			break;
		default:
			cow_std_option(c);
		}
	}
	if (argc - optind != 1)
		cow_usage_error(optind < argc ? "too many arguments"
					      : "missing cowfile");
	if (cow_open(cf, argv[optind], !dryrun) < 0)
		return COW_EXIT_FAIL;
	if (cf->hdr.flags & COW_F_PACKED) {
		cow_err(cf->label, "%s", cow_strerror(COW_E_PACKED));
		goto fail;
	}
	if (cow_map_load(cf) < 0)
		goto fail;
	state = cow_map_check(cf, &weight);
	dirty = cf->hdr.flags & COW_F_DIRTY;
	if (!dirty && !force) {
		printf("cowfile %s is not dirty\n", cf->path);
		if (state) {
			cow_err(cf->label, "%s", cow_strerror(state));
			goto fail;
		}
		cow_close(cf);
		return COW_EXIT_OK;
	}

	full = force || !(cf->hdr.ext_flags & COW_EXT_ORDERED);
	if (dirty && !(cf->hdr.ext_flags & COW_EXT_ORDERED))
		printf("cowfile %s: written by the original cowloop: "
		       "scanning the whole data area\n", cf->path);
	else if (dirty && !full)
		printf("cowfile %s: bitmap valid up to the last flush (ordered): "
		       "only cowused recounted, data area not read\n", cf->path);
	if (full && scan_data(&rp) < 0)
		goto fail;
	clear_tail(&rp);
	weight = cow_bitmap_weight(cf->map, cf->hdr.mapsize);
	if (weight != cf->hdr.cowused && rp.verbose)
		printf("cowblocks in use: header says %llu, bitmap has %llu: "
		       "corrected\n", (unsigned long long)cf->hdr.cowused,
		       (unsigned long long)weight);
	printf("number of corrections in bitmap: %llu\n",
	       (unsigned long long)rp.corrections);
	if (dryrun) {
		if (dirty || rp.corrections || weight != cf->hdr.cowused)
			printf("cowfile %s: not modified (-n)\n", cf->path);
		cow_close(cf);
		return COW_EXIT_OK;
	}
	if (!dirty && !rp.corrections && weight == cf->hdr.cowused) {
		cow_close(cf);		/* nothing to write */
		return COW_EXIT_OK;
	}
	/* bitmap durable first, then the header that says it is clean */
	if (cow_map_write(cf) < 0)
		goto fail;
	cf->hdr.cowused = weight;
	cf->hdr.flags &= (__u16)~COW_F_DIRTY;
	if (cow_hdr_write(cf) < 0)
		goto fail;
	cow_close(cf);
	return COW_EXIT_OK;
fail:
	cow_close(cf);
	return COW_EXIT_FAIL;
}
