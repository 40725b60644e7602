// SPDX-License-Identifier: GPL-2.0
/*
 * cowloop: activation and deactivation of cowdevices.
 *
 * A cowdevice lives from cow_activate() to cow_deactivate(), both under
 * cow_ctl_mutex.  While it is open it cannot be deactivated; once
 * deactivation has begun (COW_RUNDOWN) it cannot be opened.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/kthread.h>
#include <linux/namei.h>
#include <linux/pagemap.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include "compat.h"
#include "cow.h"

unsigned int cow_maxcows = COW_MAXCOWS_DEFAULT;
bool cow_direct_io = true;
static DEFINE_MUTEX(cow_ctl_mutex);
static DEFINE_XARRAY(cow_devs);		/* devno -> struct cow_dev */
static int cow_major;
static struct dentry *cow_debugfs_root;

/* ---------------------------------------------------------------- */
/* block device operations                                          */
/* ---------------------------------------------------------------- */

static int cow_open(COW_OPEN_ARGS)
{
	struct cow_dev *cd = COW_OPEN_DISK->private_data;
	int ret = 0;

	spin_lock_irq(&cd->lock);
	if (cd->state == COW_ACTIVE)
		cd->opens++;
	else
		ret = -ENXIO;
	spin_unlock_irq(&cd->lock);
	return ret;
}

static void cow_release(COW_RELEASE_ARGS)
{
	struct cow_dev *cd = disk->private_data;

	spin_lock_irq(&cd->lock);
	cd->opens--;
	spin_unlock_irq(&cd->lock);
}

static char *cow_devnode(struct gendisk *disk, umode_t *mode)
{
	return kasprintf(GFP_KERNEL, "cow/%d", disk->first_minor);
}

static const struct block_device_operations cow_fops = {
	.owner		= THIS_MODULE,
	.submit_bio	= cow_submit_bio,
	.open		= cow_open,
	.release	= cow_release,
	.devnode	= cow_devnode,
};

/* ---------------------------------------------------------------- */
/* sysfs (/sys/block/cowN/cowloop/) and debugfs                     */
/* ---------------------------------------------------------------- */

static struct cow_dev *cow_dev_of(struct device *dev)
{
	return dev_to_disk(dev)->private_data;
}

static ssize_t rdofile_show(struct device *dev, struct device_attribute *a,
			    char *buf)
{
	return sysfs_emit(buf, "%s\n", cow_dev_of(dev)->path[COW_RDO]);
}

static ssize_t cowfile_show(struct device *dev, struct device_attribute *a,
			    char *buf)
{
	return sysfs_emit(buf, "%s\n", cow_dev_of(dev)->path[COW_COW]);
}

/*
 * "dirty" while the cowfile on disk is marked in use or the bitmap in
 * memory has bits it lacks; "clean" after cowsync until the next change.
 */
static const char *cow_state_name(struct cow_dev *cd)
{
	return READ_ONCE(cd->disk_dirty) || READ_ONCE(cd->mem_dirty) ?
		"dirty" : "clean";
}

static ssize_t state_show(struct device *dev, struct device_attribute *a,
			  char *buf)
{
	return sysfs_emit(buf, "%s\n", cow_state_name(cow_dev_of(dev)));
}

/* Bytes of kernel memory the device holds: bitmap pages and buffers. */
static ssize_t memory_show(struct device *dev, struct device_attribute *a,
			   char *buf)
{
	struct cow_dev *cd = cow_dev_of(dev);

	return sysfs_emit(buf, "%lu\n",
			  atomic_long_read(&cd->bm_pages) * PAGE_SIZE +
			  sizeof(*cd) + COW_FLUSH_BATCH * PAGE_SIZE +
			  COW_MAPUNIT + COW_HDRSIZE);
}

static DEVICE_ATTR_RO(rdofile);
static DEVICE_ATTR_RO(cowfile);
static DEVICE_ATTR_RO(state);
static DEVICE_ATTR_RO(memory);

static struct attribute *cow_attrs[] = {
	&dev_attr_rdofile.attr,
	&dev_attr_cowfile.attr,
	&dev_attr_state.attr,
	&dev_attr_memory.attr,
	NULL,
};

static const struct attribute_group cow_attr_group = {
	.name	= "cowloop",
	.attrs	= cow_attrs,
};

static const struct attribute_group *cow_attr_groups[] = {
	&cow_attr_group,
	NULL,
};

/* The status report of the original /proc/cow/N, field for field. */
static int cow_status_show(struct seq_file *m, void *v)
{
	struct cow_dev *cd = m->private;
	int opens;

	spin_lock_irq(&cd->lock);
	opens = cd->opens;
	spin_unlock_irq(&cd->lock);

	seq_printf(m, "%18s:%10s\n\n", "cowloop version", COWLOOP_VERSION);
	seq_printf(m, "%18s:%10d\n", "number of opens", opens);
	seq_printf(m, "%18s:%10d\n\n", "pid of thread",
		   task_pid_nr(cd->thread));
	seq_printf(m, "%18s: %s\n", "read-only file", cd->path[COW_RDO]);
	seq_printf(m, "%18s:%10lld\n\n", "rdoreads",
		   atomic64_read(&cd->rdoreads));
	seq_printf(m, "%18s: %s\n", "copy-on-write file", cd->path[COW_COW]);
	seq_printf(m, "%18s:%10s\n", "state cowfile", cow_state_name(cd));
	seq_printf(m, "%18s:%10llu (of %u bytes)\n", "bitmap-blocks",
		   cd->hdr.mapsize / COW_MAPUNIT, COW_MAPUNIT);
	seq_printf(m, "%18s:%10lld (of %u bytes)\n", "cowblocks in use",
		   atomic64_read(&cd->cowused), COW_MAPUNIT);
	seq_printf(m, "%18s:%10lld\n", "cowreads",
		   atomic64_read(&cd->cowreads));
	seq_printf(m, "%18s:%10lld\n", "cowwrites",
		   atomic64_read(&cd->cowwrites));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(cow_status);

/* ---------------------------------------------------------------- */
/* backing files                                                    */
/* ---------------------------------------------------------------- */

/* File type of @path, or 0 when it does not exist; negative on error. */
static int cow_path_type(const char *path, umode_t *type)
{
	struct path p;
	int ret;

	ret = kern_path(path, LOOKUP_FOLLOW, &p);
	if (ret == -ENOENT) {
		*type = 0;
		return 0;
	}
	if (ret)
		return ret;
	*type = d_inode(p.dentry)->i_mode & S_IFMT;
	path_put(&p);
	return 0;
}

static loff_t cow_file_size(struct file *file)
{
	return i_size_read(file->f_mapping->host);
}

/*
 * A second, O_DIRECT, opening of a backing file for the data path, when
 * its file system supports direct I/O and the device below takes 512-byte
 * aligned requests (what we pass on).  Otherwise all I/O stays buffered.
 */
static void cow_open_direct(struct cow_dev *cd, enum cow_file_id id,
			    int flags)
{
	struct inode *inode = cd->file[id]->f_mapping->host;
	struct block_device *bdev;
	struct file *file;

	if (!cow_direct_io)
		return;
	bdev = S_ISBLK(inode->i_mode) ? I_BDEV(inode) : inode->i_sb->s_bdev;
	if (!bdev || bdev_logical_block_size(bdev) > SECTOR_SIZE)
		return;
	file = filp_open(cd->path[id], flags | O_DIRECT | O_LARGEFILE, 0);
	if (IS_ERR(file))
		return;
	if (file_inode(file) != file_inode(cd->file[id])) {
		filp_close(file, NULL);		/* renamed meanwhile */
		return;
	}
	cd->dio[id] = file;
}

/*
 * Is @inode the file @id of an active cowdevice?  A cowfile must be
 * neither the cowfile nor the rdofile of another; an rdofile must not be
 * the cowfile of another (it would change under this one).
 */
static bool cow_file_in_use(struct inode *inode, enum cow_file_id id)
{
	struct cow_dev *other;
	unsigned long i;

	xa_for_each(&cow_devs, i, other)
		if (file_inode(other->file[id]) == inode)
			return true;
	return false;
}

static int cow_open_rdofile(struct cow_dev *cd)
{
	const char *path = cd->path[COW_RDO];
	struct file *file;
	umode_t type;
	int ret;

	ret = cow_path_type(path, &type);
	if (ret)
		return ret;
	if (!type)
		return -ENOENT;
	if (type != S_IFREG && type != S_IFBLK)
		return COW_E_RDOTYPE;
	file = filp_open(path, O_RDONLY | O_LARGEFILE, 0);
	if (IS_ERR(file))
		return PTR_ERR(file);
	cd->file[COW_RDO] = file;
	if (S_ISBLK(file_inode(file)->i_mode) &&
	    I_BDEV(file->f_mapping->host)->bd_disk->fops == &cow_fops)
		return COW_E_STACK;
	if (!S_ISREG(file_inode(file)->i_mode) &&
	    !S_ISBLK(file_inode(file)->i_mode))
		return COW_E_RDOTYPE;
	if (cow_file_size(file) < COW_MAPUNIT)
		return COW_E_RDOSMALL;
	if (cow_file_in_use(file_inode(file), COW_COW))
		return COW_E_RDOBUSY;
	cow_open_direct(cd, COW_RDO, O_RDONLY);
	return 0;
}

static int cow_open_cowfile(struct cow_dev *cd)
{
	const char *path = cd->path[COW_COW];
	struct address_space *mapping;
	struct file *file;
	struct inode *inode;
	umode_t type;
	int ret;

	/* Never open (with side effects) what cannot be a cowfile. */
	ret = cow_path_type(path, &type);
	if (ret)
		return ret;
	if (type && type != S_IFREG)
		return COW_E_COWTYPE;
	file = filp_open(path, O_RDWR | O_CREAT | O_LARGEFILE, 0600);
	if (IS_ERR(file))
		return PTR_ERR(file);
	cd->file[COW_COW] = file;
	inode = file_inode(file);
	if (!S_ISREG(inode->i_mode))
		return COW_E_COWTYPE;
	if (inode == file_inode(cd->file[COW_RDO]))
		return COW_E_SAMEFILE;
	if (cow_file_in_use(inode, COW_COW))
		return COW_E_INUSE;
	if (cow_file_in_use(inode, COW_RDO))
		return COW_E_COWBUSY;

	/* Page cache allocations for it must not recurse into us (as loop) */
	mapping = file->f_mapping;
	cd->old_gfp_mask = mapping_gfp_mask(mapping);
	mapping_set_gfp_mask(mapping,
			     cd->old_gfp_mask & ~(__GFP_IO | __GFP_FS));
	cow_open_direct(cd, COW_COW, O_RDWR);
	return 0;
}

static void cow_close_files(struct cow_dev *cd)
{
	struct file *cow = cd->file[COW_COW];
	int id;

	if (cow && cd->old_gfp_mask)
		mapping_set_gfp_mask(cow->f_mapping, cd->old_gfp_mask);
	for (id = 0; id < COW_NR_FILES; id++) {
		if (cd->dio[id])
			filp_close(cd->dio[id], NULL);
		if (cd->file[id])
			filp_close(cd->file[id], NULL);
	}
}

/* The fingerprint of the rdofile; holes are zeroes and are skipped. */
static int cow_rdo_fingerprint(struct cow_dev *cd, u64 rdoblocks, u32 *fp)
{
	struct file *rdo = cd->file[COW_RDO];
	loff_t end = rdoblocks << COW_MAPUNIT_SHIFT, pos = 0, data;
	size_t chunk = COW_FLUSH_BATCH * PAGE_SIZE, len, i;
	struct cow_fp acc;
	int ret;

	cow_fp_init(&acc);
	while (pos < end && !cow_fp_done(&acc)) {
		data = vfs_llseek(rdo, pos, SEEK_DATA);
		if (data == -ENXIO)
			break;
		if (data > pos)
			pos = round_down(data, COW_MAPUNIT);
		if (pos >= end)
			break;
		len = min_t(loff_t, chunk, end - pos);
		ret = cow_file_rw(cd, COW_RDO, false, cd->flush_buf, len, pos);
		if (ret)
			return ret;
		for (i = 0; i < len && !cow_fp_done(&acc); i += COW_MAPUNIT)
			cow_fp_add(&acc, cd->flush_buf + i);
		pos += len;
		cond_resched();
	}
	*fp = acc.value;
	return 0;
}

/* A new cowfile: header, sparse bitmap, nothing else. */
static int cow_create_header(struct cow_dev *cd, u64 rdosize)
{
	struct cow_hdr *h = &cd->hdr;
	u32 fp;
	int ret;

	ret = cow_rdo_fingerprint(cd, cow_rdoblocks(rdosize), &fp);
	if (ret)
		return ret;
	cow_hdr_init(h, rdosize, fp);
	return vfs_truncate(&cd->file[COW_COW]->f_path,
			    COW_HDRSIZE + h->mapsize);
}

/* An existing cowfile: its header must fit the rdofile. */
static int cow_check_header(struct cow_dev *cd, u64 rdosize, bool repair)
{
	struct cow_hdr *h = &cd->hdr;
	loff_t size = cow_file_size(cd->file[COW_COW]);
	u32 fp;
	int ret;

	if (size < COW_HDRSIZE)
		return COW_E_SHORT;
	ret = cow_file_rw(cd, COW_COW, false, cd->hdr_buf, COW_HDRSIZE, 0);
	if (ret)
		return ret;
	ret = cow_hdr_decode(h, cd->hdr_buf);
	if (ret)
		return ret;
	if (size < COW_HDRSIZE + h->mapsize)
		return COW_E_SHORT;
	ret = cow_hdr_check_state(h);
	if (ret && !(ret == COW_E_DIRTY && repair))
		return ret;
	ret = cow_rdo_fingerprint(cd, h->rdoblocks, &fp);
	if (ret)
		return ret;
	return cow_hdr_check_rdo(h, rdosize, fp);
}

/*
 * Open both files and bring the cowfile's header and bitmap into memory.
 * Returns 0, a negative errno, or a positive enum cow_reason.
 */
static int cow_attach(struct cow_dev *cd, bool repair)
{
	u64 rdosize;
	int ret;

	ret = cow_open_rdofile(cd);
	if (!ret)
		ret = cow_open_cowfile(cd);
	if (ret)
		return ret;
	rdosize = cow_file_size(cd->file[COW_RDO]);
	if (cow_file_size(cd->file[COW_COW]) == 0) {
		ret = cow_create_header(cd, rdosize);
	} else {
		ret = cow_check_header(cd, rdosize, repair);
		if (!ret)
			ret = cow_bm_load(cd, repair);
	}
	if (ret)
		return ret;
	/* From now on bitmap writes are ordered: say so, and mark in use. */
	cd->hdr.ext_flags |= COW_EXT_ORDERED;
	cd->hdr.rdosize = rdosize;
	mutex_lock(&cd->meta_mutex);
	ret = cow_hdr_mark_dirty(cd);
	mutex_unlock(&cd->meta_mutex);
	if (!ret)
		ret = cow_bm_flush(cd);		/* bits found by a repair */
	return ret;
}

/* ---------------------------------------------------------------- */
/* device lifetime                                                  */
/* ---------------------------------------------------------------- */

static void cow_dev_free(struct cow_dev *cd)
{
	cow_bm_free(cd);
	kvfree(cd->flush_buf);
	kfree(cd->unit_buf);
	kfree(cd->hdr_buf);
	kfree(cd->path[COW_RDO]);
	kfree(cd->path[COW_COW]);
	kfree(cd);
}

static struct cow_dev *cow_dev_alloc(unsigned int devno,
				     const char *rdofile, const char *cowfile)
{
	struct cow_dev *cd = kzalloc(sizeof(*cd), GFP_KERNEL);

	if (!cd)
		return NULL;
	cd->devno = devno;
	spin_lock_init(&cd->lock);
	init_waitqueue_head(&cd->wq);
	init_waitqueue_head(&cd->drain_wq);
	bio_list_init(&cd->bios);
	INIT_LIST_HEAD(&cd->fua_done);
	mutex_init(&cd->meta_mutex);
	xa_init_flags(&cd->bitmap, XA_FLAGS_LOCK_IRQ);
	cd->path[COW_RDO] = kstrdup(rdofile, GFP_KERNEL);
	cd->path[COW_COW] = kstrdup(cowfile, GFP_KERNEL);
	cd->flush_buf = kvmalloc(COW_FLUSH_BATCH * PAGE_SIZE, GFP_KERNEL);
	cd->unit_buf = kmalloc(COW_MAPUNIT, GFP_KERNEL);
	cd->hdr_buf = kmalloc(COW_HDRSIZE, GFP_KERNEL);
	if (!cd->path[COW_RDO] || !cd->path[COW_COW] || !cd->flush_buf ||
	    !cd->unit_buf || !cd->hdr_buf) {
		cow_dev_free(cd);
		return NULL;
	}
	return cd;
}

static int cow_add_disk(struct cow_dev *cd)
{
	struct gendisk *disk;
	int ret;

	disk = cow_alloc_disk(SECTOR_SIZE, PAGE_SIZE);
	if (IS_ERR(disk))
		return PTR_ERR(disk);
	disk->major = cow_major;
	disk->first_minor = cd->devno;
	disk->minors = 1;
	disk->flags |= GENHD_FL_NO_PART;
	disk->fops = &cow_fops;
	disk->private_data = cd;
	snprintf(disk->disk_name, DISK_NAME_LEN, "cow%d", cd->devno);
	set_capacity(disk, cd->hdr.rdoblocks * COW_SECTORS_PER_UNIT);
	cd->disk = disk;

	cd->thread = kthread_run(cow_thread, cd, "cow%d", cd->devno);
	if (IS_ERR(cd->thread)) {
		ret = PTR_ERR(cd->thread);
		goto out_put;
	}
	ret = device_add_disk(NULL, disk, cow_attr_groups);
	if (ret)
		goto out_stop;
	return 0;
out_stop:
	kthread_stop(cd->thread);
out_put:
	put_disk(disk);
	cd->disk = NULL;
	return ret;
}

/* Final flush, clean header, release everything. */
static void cow_dev_destroy(struct cow_dev *cd)
{
	int ret;

	debugfs_remove(cd->debugfs);
	del_gendisk(cd->disk);
	kthread_stop(cd->thread);	/* returns when all I/O has ended */
	ret = cow_bm_sync(cd, true);
	if (ret)
		pr_err("cow%d: cowfile %s: final write of header and bitmap failed (%d): left dirty, run cowrepair\n",
		       cd->devno, cd->path[COW_COW], ret);
	put_disk(cd->disk);
	pr_info("cow%d: deactivated (cowfile %s, %lld blocks in use)\n",
		cd->devno, cd->path[COW_COW], atomic64_read(&cd->cowused));
	cow_close_files(cd);
	cow_dev_free(cd);
}

static int cow_reason_errno(int reason)
{
	switch (reason) {
	case COW_E_INUSE:
	case COW_E_RDOBUSY:
	case COW_E_COWBUSY:
	case COW_E_DEVBUSY:
		return -EBUSY;
	case COW_E_DEVRANGE:
		return -ENXIO;
	case COW_E_NOFREE:
		return -ENOSPC;
	case COW_E_IO:
		return -EIO;
	default:
		return -EINVAL;
	}
}

static int cow_pick_devno(struct cow_ioc_dev *req)
{
	unsigned int devno;

	if (req->devno != COW_DEV_ANY) {
		if (req->devno >= cow_maxcows)
			return COW_E_DEVRANGE;
		if (xa_load(&cow_devs, req->devno))
			return COW_E_DEVBUSY;
		return 0;
	}
	for (devno = 0; devno < cow_maxcows; devno++) {
		if (!xa_load(&cow_devs, devno)) {
			req->devno = devno;
			return 0;
		}
	}
	return COW_E_NOFREE;
}

static bool cow_path_ok(char *path)
{
	return path[0] == '/' && memchr(path, 0, COW_PATH_MAX);
}

static int cow_activate_locked(struct cow_ioc_dev *req)
{
	bool repair = req->flags & COW_ACT_REPAIR;
	struct cow_dev *cd;
	int ret;

	ret = cow_pick_devno(req);
	if (ret)
		return ret;
	cd = cow_dev_alloc(req->devno, req->rdofile, req->cowfile);
	if (!cd)
		return -ENOMEM;
	ret = cow_attach(cd, repair);
	if (ret)
		goto out_close;
	ret = xa_insert(&cow_devs, cd->devno, cd, GFP_KERNEL);
	if (ret)
		goto out_close;
	ret = cow_add_disk(cd);
	if (ret)
		goto out_erase;
	cd->debugfs = debugfs_create_file(cd->disk->disk_name + 3, 0444,
					  cow_debugfs_root, cd,
					  &cow_status_fops);
	pr_info("cow%d: activated: rdofile %s, cowfile %s (%llu blocks, %lld in use)\n",
		cd->devno, cd->path[COW_RDO], cd->path[COW_COW],
		cd->hdr.rdoblocks, atomic64_read(&cd->cowused));
	return 0;

out_erase:
	xa_erase(&cow_devs, cd->devno);
out_close:
	if (ret > 0)
		pr_err("cannot activate rdofile %s with cowfile %s: %s\n",
		       req->rdofile, req->cowfile, cow_strerror(ret));
	else
		pr_err("cannot activate rdofile %s with cowfile %s: error %d\n",
		       req->rdofile, req->cowfile, ret);
	cow_close_files(cd);
	cow_dev_free(cd);
	return ret;
}

/* Returns 0 or a negative errno; req->reason says why in words. */
int cow_activate(struct cow_ioc_dev *req)
{
	int ret;

	if (req->flags & ~COW_ACT_KNOWN)
		return -EINVAL;
	if (!cow_path_ok(req->rdofile) || !cow_path_ok(req->cowfile)) {
		req->reason = COW_E_PATH;
		return -EINVAL;
	}
	mutex_lock(&cow_ctl_mutex);
	ret = cow_activate_locked(req);
	mutex_unlock(&cow_ctl_mutex);
	if (ret == -EIO)
		ret = COW_E_IO;
	if (ret > 0) {
		req->reason = ret;
		ret = cow_reason_errno(ret);
	}
	return ret;
}

static int cow_deactivate_locked(unsigned int devno)
{
	struct cow_dev *cd = xa_load(&cow_devs, devno);

	if (!cd)
		return -ENXIO;
	spin_lock_irq(&cd->lock);
	if (cd->opens) {
		spin_unlock_irq(&cd->lock);
		return -EBUSY;
	}
	cd->state = COW_RUNDOWN;
	spin_unlock_irq(&cd->lock);
	xa_erase(&cow_devs, devno);
	cow_dev_destroy(cd);
	return 0;
}

int cow_deactivate(unsigned int devno)
{
	int ret;

	mutex_lock(&cow_ctl_mutex);
	ret = cow_deactivate_locked(devno);
	mutex_unlock(&cow_ctl_mutex);
	return ret;
}

/* cowsync: header and bitmap of one or every cowdevice, clean. */
int cow_sync(unsigned int devno)
{
	struct cow_dev *cd;
	unsigned long i;
	int ret = 0, err;

	mutex_lock(&cow_ctl_mutex);
	if (devno != COW_DEV_ANY && !xa_load(&cow_devs, devno))
		ret = -ENXIO;
	xa_for_each(&cow_devs, i, cd) {
		if (devno != COW_DEV_ANY && devno != i)
			continue;
		err = cow_bm_sync(cd, true);
		if (err) {
			pr_err("cow%d: cowfile %s: sync failed (%d)\n",
			       cd->devno, cd->path[COW_COW], err);
			ret = ret ?: err;
		}
	}
	mutex_unlock(&cow_ctl_mutex);
	return ret;
}

void cow_deactivate_all(void)
{
	struct cow_dev *cd;
	unsigned long i;

	mutex_lock(&cow_ctl_mutex);
	xa_for_each(&cow_devs, i, cd)
		cow_deactivate_locked(i);
	mutex_unlock(&cow_ctl_mutex);
}

int cow_dev_init(void)
{
	cow_major = register_blkdev(0, KBUILD_MODNAME);
	if (cow_major < 0)
		return cow_major;
	cow_debugfs_root = debugfs_create_dir(KBUILD_MODNAME, NULL);
	return 0;
}

void cow_dev_exit(void)
{
	debugfs_remove_recursive(cow_debugfs_root);
	unregister_blkdev(cow_major, KBUILD_MODNAME);
}
