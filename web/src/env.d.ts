// Side-effect imports of CSS are bundled by Vite.
declare module "*.css";
