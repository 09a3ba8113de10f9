import type { About } from '../api';
import type { Route, View } from '../route';
import { href } from '../route';

/** Ctx is what a view gets: its route, navigation, and a signal that ends
 * its fetches and timers when the person moves on. */
export interface Ctx {
  route: Route;
  about: About;
  navigate(to: string, opts?: { replace?: boolean }): void;
  signal: AbortSignal;
  onCleanup(fn: () => void): void;
  /** ready marks the view rendered (for people waiting on it, and tests). */
  ready(): void;
}

/** at is the URL of another view over the same range. */
export function at(ctx: Ctx, v: View): string {
  return href(v, ctx.route.range);
}
