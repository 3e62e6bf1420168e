// Verbatim from the spec (docs: monitoring-setup-guide.md, React Frontend Monitoring).
// src/utils/performanceMonitoring.ts
export const trackPageLoad = () => {
  const navigation = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
  
  const metrics = {
    domContentLoaded: navigation.domContentLoadedEventEnd - navigation.domContentLoadedEventStart,
    loadComplete: navigation.loadEventEnd - navigation.loadEventStart,
    totalTime: navigation.loadEventEnd - navigation.fetchStart,
  };
  
  console.log('Page Load Metrics:', metrics);
  
  // Send to monitoring service
  fetch('/api/v1/analytics/performance/', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(metrics),
  });
};

export const trackUserInteraction = (action: string, duration: number) => {
  console.log(`User Action: ${action} took ${duration}ms`);
  
  // Send to analytics
  fetch('/api/v1/analytics/interactions/', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ action, duration }),
  });
};
