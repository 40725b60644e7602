// SPDX-License-Identifier: GPL-2.0
/*
 * cowloop: copy-on-write loop devices.
 *
 * /dev/cow/N shows a read-only file or block device (the rdofile) as a
 * writable disk; everything written goes to a sparse cowfile, with a
 * bitmap saying which 1 KiB units live there.  /dev/cow/ctl activates and
 * deactivates cowdevices (see cowdev(8) and cowloop(4)).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include "cow.h"

static char *rdofile;
static char *cowfile;
static char *option;

module_param_named(maxcows, cow_maxcows, uint, 0444);
MODULE_PARM_DESC(maxcows, "Number of cowdevices (default 16, at most 1024)");
module_param_named(direct_io, cow_direct_io, bool, 0644);
MODULE_PARM_DESC(direct_io, "Read the rdofile, and cowfile data not in the page cache, with direct I/O when possible (default 1)");
module_param(rdofile, charp, 0444);
MODULE_PARM_DESC(rdofile, "Read-only file or block device to activate as /dev/cow/0 at load");
module_param(cowfile, charp, 0444);
MODULE_PARM_DESC(cowfile, "Cowfile for rdofile (created when absent)");
module_param(option, charp, 0444);
MODULE_PARM_DESC(option, "r: repair the cowfile in the kernel if it was not closed properly");

/* Copy in the request; reserved fields must be zero for later growth. */
static struct cow_ioc_dev *cow_ioc_get(void __user *arg)
{
	struct cow_ioc_dev *req = memdup_user(arg, sizeof(*req));
	unsigned int i;

	if (IS_ERR(req))
		return req;
	for (i = 0; i < ARRAY_SIZE(req->reserved); i++)
		if (req->reserved[i])
			goto inval;
	if (req->reserved0 || req->detail)
		goto inval;
	req->reason = COW_OK;
	return req;
inval:
	kfree(req);
	return ERR_PTR(-EINVAL);
}

/* Only devno, reason and detail travel back. */
static int cow_ioc_put(void __user *arg, const struct cow_ioc_dev *req)
{
	return copy_to_user(arg, req, offsetof(struct cow_ioc_dev, reserved)) ?
		-EFAULT : 0;
}

/*
 * An activation is published only once the caller has its answer: if
 * it unmapped its buffer meanwhile and cannot learn its device, the
 * device, which nobody could open yet, is taken back.
 */
static long cow_ctl_activate(void __user *uarg, struct cow_ioc_dev *req)
{
	struct cow_dev *cd;
	int ret;

	ret = cow_activate(req, &cd);
	if (cow_ioc_put(uarg, req)) {
		if (!ret)
			cow_abort(cd);
		return -EFAULT;
	}
	if (!ret)
		cow_publish(cd);
	return ret;
}

static long cow_ctl_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	struct cow_ioc_dev *req;
	long ret;

	if (cmd != COW_IOC_ACTIVATE && cmd != COW_IOC_DEACTIVATE &&
	    cmd != COW_IOC_SYNC && cmd != COW_IOC_CHECKPOINT)
		return -ENOTTY;
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	req = cow_ioc_get(uarg);
	if (IS_ERR(req))
		return PTR_ERR(req);
	/* The answer must be deliverable before anything is done. */
	if (cow_ioc_put(uarg, req)) {
		kfree(req);
		return -EFAULT;
	}
	switch (cmd) {
	case COW_IOC_ACTIVATE:
		ret = cow_ctl_activate(uarg, req);
		break;
	case COW_IOC_DEACTIVATE:
		ret = cow_deactivate(req->devno);
		break;
	case COW_IOC_CHECKPOINT:
		ret = cow_checkpoint(req);
		break;
	default:
		ret = cow_sync(req->devno);
		break;
	}
	if (cmd != COW_IOC_ACTIVATE && cow_ioc_put(uarg, req))
		ret = -EFAULT;
	kfree(req);
	return ret;
}

static const struct file_operations cow_ctl_fops = {
	.owner		= THIS_MODULE,
	.open		= nonseekable_open,
	.unlocked_ioctl	= cow_ctl_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice cow_ctl = {
	.minor		= MISC_DYNAMIC_MINOR,
	.name		= "cowctl",
	.nodename	= COW_CTL_NODE,
	.mode		= 0644,
	.fops		= &cow_ctl_fops,
};

static int __init cow_check_params(void)
{
	if (cow_maxcows < 1 || cow_maxcows > COW_MAXCOWS_LIMIT) {
		pr_err("maxcows=%u: must be between 1 and %u\n", cow_maxcows,
		       COW_MAXCOWS_LIMIT);
		return -EINVAL;
	}
	if (!rdofile != !cowfile) {
		pr_err("rdofile= and cowfile= go together\n");
		return -EINVAL;
	}
	if (option && strcmp(option, "r")) {
		pr_err("option=%s: unknown (only option=r, repair)\n", option);
		return -EINVAL;
	}
	if (option && !rdofile) {
		pr_err("option=r needs rdofile= and cowfile=\n");
		return -EINVAL;
	}
	return 0;
}

/*
 * rdofile= cowfile= [option=r]: activate /dev/cow/0 at load, held (not
 * yet open to anyone) in *held until the module is sure to load.
 */
static int __init cow_activate_param(struct cow_dev **held)
{
	struct cow_ioc_dev *req;
	int ret;

	*held = NULL;
	if (!rdofile)
		return 0;
	if (strlen(rdofile) >= COW_PATH_MAX || strlen(cowfile) >= COW_PATH_MAX) {
		pr_err("rdofile= or cowfile= too long\n");
		return -ENAMETOOLONG;
	}
	req = kzalloc(sizeof(*req), GFP_KERNEL);
	if (!req)
		return -ENOMEM;
	req->devno = 0;
	req->flags = option ? COW_ACT_REPAIR : 0;
	strscpy(req->rdofile, rdofile, COW_PATH_MAX);
	strscpy(req->cowfile, cowfile, COW_PATH_MAX);
	ret = cow_activate(req, held);
	if (ret && req->reason == COW_E_PATH)
		pr_err("rdofile=%s cowfile=%s: %s\n", rdofile, cowfile,
		       cow_strerror(req->reason));
	kfree(req);
	return ret;
}

/*
 * /dev/cow/ctl comes last: once it is registered, someone may open it
 * or activate a device through it, and the module must not fail to
 * load any more (a failed init frees it under them).  The device of
 * rdofile= is activated before, and published after.
 */
static int __init cow_init(void)
{
	struct cow_dev *held;
	int ret;

	ret = cow_check_params();
	if (ret)
		return ret;
	ret = cow_bm_init();
	if (ret)
		return ret;
	ret = cow_io_init();
	if (ret)
		goto out_bm;
	ret = cow_dev_init();
	if (ret)
		goto out_io;
	ret = cow_activate_param(&held);
	if (ret)
		goto out_dev;
	ret = misc_register(&cow_ctl);
	if (ret)
		goto out_held;
	if (held)
		cow_publish(held);
	pr_info("version %s loaded, %u cowdevices\n", COWLOOP_VERSION,
		cow_maxcows);
	return 0;

out_held:
	if (held)
		cow_abort(held);
out_dev:
	cow_dev_exit();
out_io:
	cow_io_exit();
out_bm:
	cow_bm_exit();
	return ret;
}

static void __exit cow_exit(void)
{
	misc_deregister(&cow_ctl);
	cow_deactivate_all();
	cow_dev_exit();
	cow_io_exit();
	cow_bm_exit();
}

module_init(cow_init);
module_exit(cow_exit);
MODULE_DESCRIPTION("cowloop: copy-on-write loop devices over a read-only file");
MODULE_AUTHOR("The cowloop developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(COWLOOP_VERSION);
