// Verbatim from the spec (docs: monitoring-setup-guide.md, React Frontend Monitoring).
// src/utils/errorTracking.ts
import { captureException, captureMessage } from '@sentry/react';

export const trackError = (error: Error, context?: any) => {
  console.error('Application Error:', error);
  captureException(error, { extra: context });
};

export const trackMessage = (message: string, level: 'info' | 'warning' | 'error' = 'info') => {
  console.log(`[${level.toUpperCase()}] ${message}`);
  captureMessage(message, level);
};

// Global error handler
window.addEventListener('error', (event) => {
  trackError(event.error, {
    filename: event.filename,
    lineno: event.lineno,
    colno: event.colno,
  });
});

window.addEventListener('unhandledrejection', (event) => {
  trackError(new Error(event.reason), {
    type: 'unhandledrejection',
  });
});
