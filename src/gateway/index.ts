export { createGateway, type Gateway, type GatewayOptions } from './app.js';
export { type RunningGateway, type StartGatewayOptions, startGateway } from './start.js';
