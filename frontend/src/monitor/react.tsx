// The React entry: an ErrorBoundary that reports what it catches, and a hook that times
// interactions. Use with init() from the ES module (re-exported here).
import { Component, useCallback } from "react";
import type { ErrorInfo, ReactNode } from "react";
import { trackError, trackUserInteraction } from "./index";

export * from "./index";

interface BoundaryProps {
  children?: ReactNode;
  /** What to render instead of the children once they threw. */
  fallback?: ReactNode;
}

/** Report render errors of its children and show `fallback` instead. */
export class ErrorBoundary extends Component<BoundaryProps, { failed: boolean }> {
  state = { failed: false };

  static getDerivedStateFromError(): { failed: boolean } {
    return { failed: true };
  }

  componentDidCatch(error: Error, info: ErrorInfo): void {
    trackError(error, { componentStack: info.componentStack }, { type: "react", handled: true });
  }

  render(): ReactNode {
    return this.state.failed ? (this.props.fallback ?? null) : this.props.children;
  }
}

/** Return `start()`, which starts timing `action` and returns the function that stops it. */
export function useInteractionTimer(action: string): () => () => void {
  return useCallback(() => {
    const started = performance.now();
    let done = false;
    return () => {
      if (!done) trackUserInteraction(action, performance.now() - started);
      done = true;
    };
  }, [action]);
}
