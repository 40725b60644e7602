// SPDX-License-Identifier: GPL-2.0
/*
 * cowlist: show the header of a cowfile, as the original cowlist did.
 */
#include <stdio.h>
#include <stdlib.h>
#include "cowlib.h"

static const struct cow_tool tool = {
	.name = "cowlist",
	.synopsis = "[-v] cowfile",
	.summary = "Show the information in the header of a cowfile.",
	.options = "  -v, --verbose     also show the layout, the ORDERED flag,\n"
		   "                    the exact rdofile size and the fingerprint\n",
};

static const struct option longopts[] = {
	{ "verbose", no_argument, NULL, 'v' },
	COW_LONGOPTS_STD,
	{ NULL, 0, NULL, 0 }
};

#define LINE_S	"%18s:%10s\n"
#define LINE_U	"%18s:%10llu\n"
#define LINE_KB	"%18s:%10llu (of 1024 bytes)\n"

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

static void report(const char *path, const struct cow_hdr *h, bool verbose)
{
	char fp[24];

	printf("Info about cowfile %s:\n", path);
	printf(LINE_S, "state cowfile", state(h));
	printf(LINE_U, "header-version", (unsigned long long)h->version);
	printf(LINE_U, "data offset", (unsigned long long)h->doffset);
	printf(LINE_U, "mapunit", (unsigned long long)h->mapunit);
	printf(LINE_KB, "bitmap-blocks",
	       (unsigned long long)(h->mapsize / COW_MAPUNIT));
	printf(LINE_KB, "cowblocks in use", (unsigned long long)h->cowused);
	printf(LINE_KB, "size rdofile", (unsigned long long)h->rdoblocks);
	if (!verbose)
		return;
	printf(LINE_S, "layout",
	       h->layout == COW_LAYOUT_ILP32 ? "i386" : "x86_64");
	printf(LINE_S, "ordered", h->ext_flags & COW_EXT_ORDERED ? "yes" : "no");
	if (h->rdosize)
		printf("%18s:%10llu bytes\n", "exact size rdofile",
		       (unsigned long long)h->rdosize);
	else
		printf(LINE_S, "exact size rdofile", "unknown");
	snprintf(fp, sizeof(fp), "%#llx", (unsigned long long)h->fingerprint);
	printf(LINE_S, "rdofingerprint", fp);
}

int main(int argc, char **argv)
{
	struct cowfile cf;
	bool verbose = false;
	int c;

	cow_tool_init(&tool);
	while ((c = getopt_long(argc, argv, "v" COW_SHORTOPTS_STD, longopts, NULL)) != -1) {
		if (c == 'v')
			verbose = true;
		else
			cow_std_option(c);
	}
	if (argc - optind != 1)
		cow_usage_error(optind < argc ? "too many arguments"
					      : "missing cowfile");
	if (cow_open(&cf, argv[optind], false) < 0)
		return COW_EXIT_FAIL;
	report(cf.path, &cf.hdr, verbose);
	cow_close(&cf);
	return COW_EXIT_OK;
}
