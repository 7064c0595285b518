// Writes the greeting, stores it in shared state and announces it.

/** @type {import('../motia-types.js').WriteGreetingHandler} */
exports.handler = async (greeting, ctx) => {
  const written = { ...greeting, text: `Hello, ${greeting.name}!` };
  await ctx.state.set('greetings', greeting.id, written);
  await ctx.state.incr('stats', 'greetings', 1);
  await ctx.streams.greetings.set('all', greeting.id, written);  // pushed to subscribed clients
  await ctx.emit({ topic: 'greeting.sent', data: written });
  ctx.logger.info('greeting written', { id: greeting.id });
};
