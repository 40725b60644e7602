// SPDX-License-Identifier: GPL-2.0
/*
 * cowloop: what a cowdevice shows of itself, read-only:
 * /sys/block/cowN/cowloop/ for tools and people, and the original
 * driver's status report in debugfs (cowloop/N).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include "cow.h"

static struct dentry *cow_debugfs_root;

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
 * Which file is file @id, whatever its path has become: "MAJ:MIN INO
 * MAJ:MIN", the st_dev, st_ino and st_rdev stat(2) gives for it.  The
 * tools compare a file they are asked to change with these (a path can
 * be renamed or reached by another name; the file cannot).
 */
static ssize_t cow_file_id_show(struct device *dev, enum cow_file_id id,
				char *buf)
{
	struct file *file = cow_dev_of(dev)->file[id];
	struct kstat st;
	int ret;

	if (!file)
		return sysfs_emit(buf, "-\n");	/* standalone: no rdofile */
	ret = vfs_getattr(&file->f_path, &st, STATX_INO,
			  AT_STATX_SYNC_AS_STAT);
	if (ret)
		return ret;
	return sysfs_emit(buf, "%u:%u %llu %u:%u\n", MAJOR(st.dev),
			  MINOR(st.dev), st.ino, MAJOR(st.rdev),
			  MINOR(st.rdev));
}

static ssize_t rdofile_id_show(struct device *dev, struct device_attribute *a,
			       char *buf)
{
	return cow_file_id_show(dev, COW_RDO, buf);
}

static ssize_t cowfile_id_show(struct device *dev, struct device_attribute *a,
			       char *buf)
{
	return cow_file_id_show(dev, COW_COW, buf);
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

/*
 * Bytes of kernel memory the device holds: bitmap pages (bounded: see
 * bitmap.c) and zero markers, the reserves of bitmap pages, requests
 * and pieces, and its buffers.
 */
static ssize_t memory_show(struct device *dev, struct device_attribute *a,
			   char *buf)
{
	struct cow_dev *cd = cow_dev_of(dev);

	return sysfs_emit(buf, "%lu\n",
			  cow_bm_memory(cd) + cow_io_memory() + sizeof(*cd) +
			  COW_FLUSH_BATCH * PAGE_SIZE + COW_MAPUNIT +
			  COW_HDRSIZE);
}

/*
 * How discards are done: "punch" (holes in the cowfile), or "none" when
 * the cowfile's file system cannot punch holes or the device is
 * read-only (its activation does not try).  Decided at activation.
 */
static ssize_t discard_show(struct device *dev, struct device_attribute *a,
			    char *buf)
{
	return sysfs_emit(buf, "%s\n",
			  cow_dev_of(dev)->can_punch ? "punch" : "none");
}

/*
 * Copied units (fill.c): "PRESENT TOTAL COPIED STATE": the units in the
 * cowfile, of the device, copied from the rdofile since activation, and
 * filling, copy-on-read, done (every unit is in the cowfile: the rdofile
 * is not read any more), failed (a copy failed, copying stopped) or off.
 */
static ssize_t fill_show(struct device *dev, struct device_attribute *a,
			 char *buf)
{
	struct cow_dev *cd = cow_dev_of(dev);
	u64 present = atomic64_read(&cd->cowused);
	const char *state;

	if (READ_ONCE(cd->fill_failed))
		state = "failed";
	else if (present == cd->hdr.rdoblocks)
		state = "done";
	else if (READ_ONCE(cd->filling))
		state = "filling";
	else if (cd->copyread)
		state = "copy-on-read";
	else
		state = "off";
	return sysfs_emit(buf, "%llu %llu %lld %s\n", present,
			  cd->hdr.rdoblocks, atomic64_read(&cd->copied), state);
}

/* The fill's throttle, KiB/s; 0: as fast as the device is idle. */
static ssize_t fill_rate_show(struct device *dev, struct device_attribute *a,
			      char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(cow_dev_of(dev)->fill_rate));
}

static ssize_t fill_rate_store(struct device *dev, struct device_attribute *a,
			       const char *buf, size_t len)
{
	unsigned int rate;
	int ret = kstrtouint(buf, 10, &rate);

	if (ret)
		return ret;
	WRITE_ONCE(cow_dev_of(dev)->fill_rate, rate);
	return len;
}

static DEVICE_ATTR_RO(rdofile);
static DEVICE_ATTR_RO(cowfile);
static DEVICE_ATTR_RO(rdofile_id);
static DEVICE_ATTR_RO(cowfile_id);
static DEVICE_ATTR_RO(state);
static DEVICE_ATTR_RO(memory);
static DEVICE_ATTR_RO(discard);
static DEVICE_ATTR_RO(fill);
static DEVICE_ATTR_RW(fill_rate);

static struct attribute *cow_attrs[] = {
	&dev_attr_rdofile.attr,
	&dev_attr_cowfile.attr,
	&dev_attr_rdofile_id.attr,
	&dev_attr_cowfile_id.attr,
	&dev_attr_state.attr,
	&dev_attr_memory.attr,
	&dev_attr_discard.attr,
	&dev_attr_fill.attr,
	&dev_attr_fill_rate.attr,
	NULL,
};

static const struct attribute_group cow_attr_group = {
	.name	= "cowloop",
	.attrs	= cow_attrs,
};

const struct attribute_group *cow_attr_groups[] = {
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

void cow_status_add(struct cow_dev *cd)
{
	cd->debugfs = debugfs_create_file(cd->disk->disk_name + 3, 0444,
					  cow_debugfs_root, cd,
					  &cow_status_fops);
}

void cow_status_remove(struct cow_dev *cd)
{
	debugfs_remove(cd->debugfs);
}

void cow_status_init(void)
{
	cow_debugfs_root = debugfs_create_dir(KBUILD_MODNAME, NULL);
}

void cow_status_exit(void)
{
	debugfs_remove_recursive(cow_debugfs_root);
}
