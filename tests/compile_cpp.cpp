// compile_cpp.cpp - miniasync.h in C++: the header is included twice, first
// for the declarations, then with MINIASYNC_IMPLEMENTATION for the
// implementation (the implementation sits outside the include guard); with
// COMPILE_CPP_EXTERN_C both inside extern "C" { }, as C++ programs include
// C headers that have no guard of their own. Built with -Werror
// (tests/meson.build); runs a chain on the sync mover, a user future, and a
// memcpy on the threads mover. Exits 0 / 1.
#ifdef COMPILE_CPP_EXTERN_C
extern "C" {
#endif
#include "miniasync.h"

#define MINIASYNC_IMPLEMENTATION
#include "miniasync.h"
#ifdef COMPILE_CPP_EXTERN_C
}
#endif

#include <cstdio>
#include <cstring>

namespace {

struct mul_data {
	int a, b;
};

struct mul_output {
	long product;
};

FUTURE(mul_future, struct mul_data, struct mul_output);

enum future_state
mul_task(struct future_context *ctx, struct future_notifier *n)
{
	mul_data *d = static_cast<mul_data *>(future_context_get_data(ctx));
	mul_output *o = static_cast<mul_output *>(future_context_get_output(ctx));

	(void)n;
	o->product = static_cast<long>(d->a) * d->b;
	return FUTURE_STATE_COMPLETE;
}

struct chain_data {
	FUTURE_CHAIN_ENTRY(struct vdm_operation_future, fill);
	FUTURE_CHAIN_ENTRY_LAST(struct mul_future, mul);
	int extra;
};

FUTURE(chain_future, struct chain_data, struct mul_output);

// data and output types written out in place, as C allows (C++ may not
// name such a type in alignof / sizeof: the header's checks use decltype)
FUTURE(inline_future, struct { int a; int b; }, struct { long sum; });

void
mul_to_chain(struct future_context *lhs, struct future_context *rhs, void *)
{
	static_cast<mul_output *>(future_context_get_output(rhs))->product =
		static_cast<mul_output *>(future_context_get_output(lhs))->product;
}

// the lazy entry is built from the result of the entry before it
void
init_mul(void *fut, struct future_context *chain_ctx, void *)
{
	mul_future *m = static_cast<mul_future *>(fut);
	chain_data *cd = static_cast<chain_data *>(
		future_context_get_data(chain_ctx));
	vdm_operation_output *o = FUTURE_OUTPUT(&cd->fill.fut);

	std::memset(m, 0, sizeof(*m));
	FUTURE_INIT(m, mul_task);
	m->data.a = static_cast<unsigned char *>(o->output.memset.str)[0];
	m->data.b = 2;
}

} // namespace

int
main()
{
	unsigned char buf[16];
	int bad = 0;
	struct data_mover_sync *dms = data_mover_sync_new();
	struct runtime *rt = runtime_new();

	if (dms == nullptr || rt == nullptr)
		return 1;
	chain_future c;
	std::memset(&c, 0, sizeof(c));
	FUTURE_CHAIN_ENTRY_INIT(&c.data.fill,
		vdm_memset(data_mover_sync_get_vdm(dms), buf, 21, sizeof(buf), 0),
		nullptr, nullptr);
	FUTURE_CHAIN_ENTRY_LAZY_INIT(&c.data.mul, init_mul, nullptr,
		mul_to_chain, nullptr);
	c.data.extra = 5;
	FUTURE_CHAIN_INIT(&c);
	bad |= FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&c.data.mul);
	runtime_wait(rt, FUTURE_AS_RUNNABLE(&c));
	bad |= !FUTURE_CHAIN_ENTRY_IS_INITIALIZED(&c.data.mul);
	bad |= FUTURE_OUTPUT(&c)->product != 42;
	bad |= c.data.extra != 5;

	inline_future in;
	std::memset(&in, 0, sizeof(in));
	in.data.a = 40;
	in.data.b = 2;
	in.output.sum = in.data.a + in.data.b;
	bad |= reinterpret_cast<char *>(&in.output) !=
		reinterpret_cast<char *>(&in.data) + sizeof(in.data);
	bad |= in.output.sum != 42;

	// the threads mover (C++ atomics in the implementation)
	struct data_mover_threads *dmt =
		data_mover_threads_new(2, 16, FUTURE_NOTIFIER_WAKER);
	if (dmt == nullptr) {
		bad = 1;
	} else {
		char src[] = "from C++", dst[sizeof(src)] = {0};
		vdm_operation_future f = vdm_memcpy(
			data_mover_threads_get_vdm(dmt), dst, src, sizeof(src), 0);
		runtime_wait(rt, FUTURE_AS_RUNNABLE(&f));
		bad |= f.output.result != VDM_SUCCESS;
		bad |= std::strcmp(dst, src) != 0;
		data_mover_threads_delete(dmt);
	}
	std::printf("C++ build: %s\n", bad ? "FAIL" : "ok");
	runtime_delete(rt);
	data_mover_sync_delete(dms);
	return bad ? 1 : 0;
}
