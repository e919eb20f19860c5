// @zohocrm/nodejs-sdk-8.0 ships no type declarations: this is the one line TypeScript
// itself suggests (TS7016), which types the SDK as `any`.
declare module "@zohocrm/nodejs-sdk-8.0";
