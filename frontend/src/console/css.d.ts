// Stylesheets imported for esbuild to bundle (console.css); they export nothing.
declare module "*.css";
