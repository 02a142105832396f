// handles.ts — ownership of native handles: each Model, Session and Chat owns one box that
// frees its handle exactly once, from close() or from the FinalizationRegistry safety net.
// A child (session of a model, chat of a session) keeps its parent's handle alive, so the
// garbage collector may finalize them in any order without a use-after-free.

export class HandleBox {
  ptr: bigint | null;
  /** Runs once, just before the handle is freed (e.g. to stop a session's worker thread). */
  cleanup?: () => void;
  private children = 0;
  private wanted = false;
  private ownerClosed = false;

  constructor(ptr: bigint, private readonly freeFn: (p: bigint) => void, private readonly parent?: HandleBox) {
    this.ptr = ptr;
    parent?.children_add();
  }

  private children_add(): void {
    this.children++;
  }

  private child_gone(): void {
    this.children--;
    if (this.wanted && this.children === 0) this.release();
  }

  /** True once released by its owner (the native object may live on for its children). */
  get closed(): boolean {
    return this.ownerClosed || this.wanted || this.ptr === null;
  }

  /** The owner closed it: no more calls through it, though the free may come later. */
  closed_by_owner(): void {
    this.ownerClosed = true;
  }

  /** Frees now, or once the last child has gone. Idempotent. */
  release(): void {
    this.wanted = true;
    if (this.ptr === null || this.children > 0) return;
    const p = this.ptr;
    this.ptr = null;
    const cleanup = this.cleanup;
    this.cleanup = undefined;
    cleanup?.();
    this.freeFn(p);
    this.parent?.child_gone();
  }
}

const registry = new FinalizationRegistry<HandleBox>((box) => box.release());

/** Frees box when owner is garbage collected without close(). */
export function track(owner: object, box: HandleBox): void {
  registry.register(owner, box, box);
}

/** close(): the owner released its handle itself; the safety net is no longer needed. */
export function untrack(box: HandleBox): void {
  registry.unregister(box);
}
