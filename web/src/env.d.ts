// esbuild bundles imported stylesheets into static/app.css.
declare module "*.css";
