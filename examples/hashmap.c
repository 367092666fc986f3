/* hashmap.c - a small hash map whose inserts and lookups are futures.
 *
 * The map is an open-addressing table of fixed-size entries. An insert is
 * a chain of four futures:
 *   find       reserve the entry for the key (runs in the polling thread)
 *   copy_key   vdm_memcpy of the key into the entry    (threads mover)
 *   copy_value vdm_memcpy of the value into the entry  (threads mover)
 *   publish    mark the entry ready
 * and a lookup is a chain of two: find the ready entry, then vdm_memcpy
 * its value into the caller's buffer. The copies are built lazily
 * (FUTURE_CHAIN_ENTRY_LAZY_INIT) because they need the entry that `find`
 * returned. Many inserts (or lookups) are waited together with
 * runtime_wait_multiple, so their copies run on the mover's workers while
 * other chains are still finding their entries.
 *
 * Keys are unique within one batch of inserts: an insert reserves its
 * entry before its key is copied, so two inserts of one new key in the
 * same batch would take two entries. */
#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HM_KEY_MAX 32
#define HM_VALUE_MAX 128

enum hm_state { HM_EMPTY, HM_RESERVED, HM_READY };

struct hm_entry {
	enum hm_state state;
	size_t klen, vlen;
	char key[HM_KEY_MAX];
	char value[HM_VALUE_MAX];
};

struct hashmap {
	struct vdm *vdm;
	size_t nentries;
	struct hm_entry *entries;
};

static struct hashmap *
hashmap_new(struct vdm *vdm, size_t nentries)
{
	struct hashmap *hm = malloc(sizeof(*hm));

	if (hm == NULL)
		return NULL;
	hm->vdm = vdm;
	hm->nentries = nentries;
	hm->entries = calloc(nentries, sizeof(*hm->entries));
	if (hm->entries == NULL) {
		free(hm);
		return NULL;
	}
	return hm;
}

static void
hashmap_delete(struct hashmap *hm)
{
	free(hm->entries);
	free(hm);
}

static size_t
hm_hash(const char *key, size_t klen)
{
	uint64_t h = 1469598103934665603u; /* FNV-1a */
	size_t i;

	for (i = 0; i < klen; i++) {
		h ^= (unsigned char)key[i];
		h *= 1099511628211u;
	}
	return (size_t)h;
}

/* ---- find: a synchronous future ---------------------------------------- */
struct hm_find_data {
	struct hashmap *hm;
	const char *key;
	size_t klen;
	int for_insert;
};

struct hm_find_output {
	struct hm_entry *entry; /* NULL: not found / map full */
};

FUTURE(hm_find_fut, struct hm_find_data, struct hm_find_output);

static enum future_state
hm_find_task(struct future_context *ctx, struct future_notifier *n)
{
	struct hm_find_data *d = future_context_get_data(ctx);
	struct hm_find_output *out = future_context_get_output(ctx);
	size_t i, at = hm_hash(d->key, d->klen) % d->hm->nentries;

	(void)n;
	out->entry = NULL;
	for (i = 0; i < d->hm->nentries; i++) {
		struct hm_entry *e = &d->hm->entries[(at + i) %
			d->hm->nentries];

		if (e->state == HM_EMPTY) {
			if (d->for_insert) {
				e->state = HM_RESERVED;
				out->entry = e;
			}
			break;
		}
		if (e->state == HM_READY && e->klen == d->klen &&
				memcmp(e->key, d->key, d->klen) == 0) {
			if (d->for_insert)
				e->state = HM_RESERVED; /* overwrite */
			out->entry = e;
			break;
		}
	}
	return FUTURE_STATE_COMPLETE;
}

static struct hm_find_fut
hm_find(struct hashmap *hm, const char *key, size_t klen, int for_insert)
{
	struct hm_find_fut f;

	FUTURE_INIT(&f, hm_find_task);
	f.data.hm = hm;
	f.data.key = key;
	f.data.klen = klen;
	f.data.for_insert = for_insert;
	f.output.entry = NULL;
	return f;
}

/* ---- publish: a synchronous future ------------------------------------- */
struct hm_publish_data {
	struct hm_entry *entry;
	size_t klen, vlen;
};

struct hm_publish_output {
	int ok;
};

FUTURE(hm_publish_fut, struct hm_publish_data, struct hm_publish_output);

static enum future_state
hm_publish_task(struct future_context *ctx, struct future_notifier *n)
{
	struct hm_publish_data *d = future_context_get_data(ctx);
	struct hm_publish_output *out = future_context_get_output(ctx);

	(void)n;
	out->ok = d->entry != NULL;
	if (d->entry != NULL) {
		d->entry->klen = d->klen;
		d->entry->vlen = d->vlen;
		d->entry->state = HM_READY;
	}
	return FUTURE_STATE_COMPLETE;
}

/* ---- insert ------------------------------------------------------------- */
struct hm_insert_data {
	FUTURE_CHAIN_ENTRY(struct hm_find_fut, find);
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, copy_key);
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, copy_value);
	FUTURE_CHAIN_ENTRY_LAST(struct hm_publish_fut, publish);
	/* the insert's arguments, after the last entry */
	struct vdm *vdm;
	const char *value;
	size_t vlen;
};

struct hm_insert_output {
	int ok;
};

FUTURE(hm_insert_fut, struct hm_insert_data, struct hm_insert_output);

static void
hm_copy_key_init(void *future, struct future_context *chain, void *arg)
{
	struct hm_insert_data *d = future_context_get_data(chain);
	struct hm_entry *e = d->find.fut.output.entry;
	struct vdm_operation_future *f = future;

	(void)arg;
	/* nothing to copy when the map is full: a zero-length copy */
	*f = e == NULL ? vdm_memcpy(d->vdm, NULL, NULL, 0, 0) :
		vdm_memcpy(d->vdm, e->key, (void *)d->find.fut.data.key,
			d->find.fut.data.klen, 0);
}

static void
hm_copy_value_init(void *future, struct future_context *chain, void *arg)
{
	struct hm_insert_data *d = future_context_get_data(chain);
	struct hm_entry *e = d->find.fut.output.entry;
	struct vdm_operation_future *f = future;

	(void)arg;
	*f = e == NULL ? vdm_memcpy(d->vdm, NULL, NULL, 0, 0) :
		vdm_memcpy(d->vdm, e->value, (void *)d->value, d->vlen, 0);
}

static void
hm_publish_init(void *future, struct future_context *chain, void *arg)
{
	struct hm_insert_data *d = future_context_get_data(chain);
	struct hm_publish_fut *f = future;

	(void)arg;
	FUTURE_INIT(f, hm_publish_task);
	f->data.entry = d->find.fut.output.entry;
	f->data.klen = d->find.fut.data.klen;
	f->data.vlen = d->vlen;
	/* a failed copy leaves the entry unpublished */
	if (d->copy_key.fut.output.result != VDM_SUCCESS ||
			d->copy_value.fut.output.result != VDM_SUCCESS)
		f->data.entry = NULL;
}

static void
hm_publish_map(struct future_context *lhs, struct future_context *rhs,
	void *arg)
{
	struct hm_publish_output *p = future_context_get_output(lhs);
	struct hm_insert_output *out = future_context_get_output(rhs);

	(void)arg;
	out->ok = p->ok;
}

/* Inserts (or overwrites) key -> value; both are copied, so the caller's
 * buffers must stay valid until the future completes. */
static struct hm_insert_fut
hashmap_insert(struct hashmap *hm, const char *key, const char *value,
	size_t vlen)
{
	struct hm_insert_fut f;
	size_t klen = strlen(key);

	if (klen > HM_KEY_MAX)
		klen = HM_KEY_MAX; /* keys are truncated to HM_KEY_MAX */
	if (vlen > HM_VALUE_MAX)
		vlen = HM_VALUE_MAX;
	f.data.vdm = hm->vdm;
	f.data.value = value;
	f.data.vlen = vlen;
	f.output.ok = 0;
	FUTURE_CHAIN_ENTRY_INIT(&f.data.find, hm_find(hm, key, klen, 1),
		NULL, NULL);
	FUTURE_CHAIN_ENTRY_LAZY_INIT(&f.data.copy_key, hm_copy_key_init,
		NULL, NULL, NULL);
	FUTURE_CHAIN_ENTRY_LAZY_INIT(&f.data.copy_value, hm_copy_value_init,
		NULL, NULL, NULL);
	FUTURE_CHAIN_ENTRY_LAZY_INIT(&f.data.publish, hm_publish_init, NULL,
		hm_publish_map, NULL);
	FUTURE_CHAIN_INIT(&f);
	return f;
}

/* ---- lookup ------------------------------------------------------------- */
struct hm_lookup_data {
	FUTURE_CHAIN_ENTRY(struct hm_find_fut, find);
	FUTURE_CHAIN_ENTRY_LAST(struct vdm_operation_future, copy_value);
	struct vdm *vdm;
	void *out;
	size_t out_size;
};

struct hm_lookup_output {
	int found;
	size_t vlen; /* bytes copied into out */
};

FUTURE(hm_lookup_fut, struct hm_lookup_data, struct hm_lookup_output);

static size_t
hm_lookup_len(struct hm_lookup_data *d)
{
	struct hm_entry *e = d->find.fut.output.entry;

	if (e == NULL)
		return 0;
	return e->vlen < d->out_size ? e->vlen : d->out_size;
}

static void
hm_lookup_copy_init(void *future, struct future_context *chain, void *arg)
{
	struct hm_lookup_data *d = future_context_get_data(chain);
	struct hm_entry *e = d->find.fut.output.entry;
	struct vdm_operation_future *f = future;

	(void)arg;
	*f = e == NULL ? vdm_memcpy(d->vdm, NULL, NULL, 0, 0) :
		vdm_memcpy(d->vdm, d->out, e->value, hm_lookup_len(d), 0);
}

static void
hm_lookup_map(struct future_context *lhs, struct future_context *rhs,
	void *arg)
{
	struct vdm_operation_output *copy = future_context_get_output(lhs);
	struct hm_lookup_data *d = future_context_get_data(rhs);
	struct hm_lookup_output *out = future_context_get_output(rhs);

	(void)arg;
	out->found = d->find.fut.output.entry != NULL &&
		copy->result == VDM_SUCCESS;
	out->vlen = out->found ? hm_lookup_len(d) : 0;
}

/* Copies the value of `key` (at most out_size bytes) into `out`. */
static struct hm_lookup_fut
hashmap_lookup(struct hashmap *hm, const char *key, void *out,
	size_t out_size)
{
	struct hm_lookup_fut f;
	size_t klen = strlen(key);

	if (klen > HM_KEY_MAX)
		klen = HM_KEY_MAX;
	f.data.vdm = hm->vdm;
	f.data.out = out;
	f.data.out_size = out_size;
	f.output.found = 0;
	f.output.vlen = 0;
	FUTURE_CHAIN_ENTRY_INIT(&f.data.find, hm_find(hm, key, klen, 0),
		NULL, NULL);
	FUTURE_CHAIN_ENTRY_LAZY_INIT(&f.data.copy_value, hm_lookup_copy_init,
		NULL, hm_lookup_map, NULL);
	FUTURE_CHAIN_INIT(&f);
	return f;
}

/* ---- the program --------------------------------------------------------- */
#define N 48

int
main(void)
{
	struct runtime *r = runtime_new();
	struct data_mover_threads *dmt = data_mover_threads_default();
	static char keys[N][HM_KEY_MAX], values[N][HM_VALUE_MAX];
	static char got[N + 1][HM_VALUE_MAX];
	static struct hm_insert_fut ins[N];
	static struct hm_lookup_fut look[N + 1];
	struct future *futs[N + 1];
	struct hashmap *hm;
	int i, bad = 0;

	if (r == NULL || dmt == NULL) {
		fprintf(stderr, "hashmap: cannot start: %s\n", strerror(errno));
		return 1;
	}
	hm = hashmap_new(data_mover_threads_get_vdm(dmt), 64);
	if (hm == NULL) {
		fprintf(stderr, "hashmap: out of memory\n");
		return 1;
	}

	/* N inserts at once */
	for (i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "key-%02d", i);
		snprintf(values[i], sizeof(values[i]), "value %d: %s", i,
			i % 2 ? "odd" : "even");
		ins[i] = hashmap_insert(hm, keys[i], values[i],
			strlen(values[i]) + 1);
		futs[i] = FUTURE_AS_RUNNABLE(&ins[i]);
	}
	runtime_wait_multiple(r, futs, N);
	for (i = 0; i < N; i++)
		bad += !FUTURE_OUTPUT(&ins[i])->ok;

	/* overwrite one key */
	snprintf(values[7], sizeof(values[7]), "seven, rewritten");
	ins[0] = hashmap_insert(hm, keys[7], values[7], strlen(values[7]) + 1);
	runtime_wait(r, FUTURE_AS_RUNNABLE(&ins[0]));
	bad += !FUTURE_OUTPUT(&ins[0])->ok;

	/* N lookups at once, and one for a key that is not there */
	for (i = 0; i <= N; i++) {
		look[i] = hashmap_lookup(hm, i < N ? keys[i] : "no-such-key",
			got[i], sizeof(got[i]));
		futs[i] = FUTURE_AS_RUNNABLE(&look[i]);
	}
	runtime_wait_multiple(r, futs, N + 1);
	for (i = 0; i < N; i++) {
		struct hm_lookup_output *o = FUTURE_OUTPUT(&look[i]);

		if (!o->found || o->vlen != strlen(values[i]) + 1 ||
				strcmp(got[i], values[i]) != 0) {
			fprintf(stderr, "lookup %s: wrong value\n", keys[i]);
			bad++;
		}
	}
	bad += FUTURE_OUTPUT(&look[N])->found != 0;
	printf("%s -> \"%s\"\n%s -> \"%s\"\n", keys[7], got[7], keys[42],
		got[42]);
	printf("%d inserts, %d lookups: %s\n", N + 1, N + 1,
		bad ? "FAILED" : "ok");

	hashmap_delete(hm);
	data_mover_threads_delete(dmt);
	runtime_delete(r);
	return bad ? 1 : 0;
}
