// SPDX-License-Identifier: GPL-2.0
/*
 * cowsync: ask the driver to write the header and bitmap of every active
 * cowfile, which are then clean until the driver changes them again.
 */
#include <errno.h>
#include <stdio.h>
#include "cowlib.h"

static const struct cow_tool tool = {
	.name = "cowsync",
	.synopsis = "",
	.summary = "Flush the header and bitmap of every active cowfile "
		   "(state 'clean').",
	.options = "",
};

static const struct option longopts[] = {
	COW_LONGOPTS_STD,
	{ NULL, 0, NULL, 0 }
};

int main(int argc, char **argv)
{
	struct cow_ioc_dev d = { .devno = COW_DEV_ANY };
	int c, r;

	cow_tool_init(&tool);
	while ((c = getopt_long(argc, argv, COW_SHORTOPTS_STD, longopts, NULL)) != -1)
		cow_std_option(c);
	if (optind < argc)
		cow_usage_error("too many arguments");
	r = cow_ctl_ioctl(COW_IOC_SYNC, &d);
	if (r == -1)
		cow_err(cow_ctl_path, "cannot sync the cowfiles: %s",
			cow_ctl_strerror(&d, errno));
	return r ? COW_EXIT_FAIL : COW_EXIT_OK;
}
