// Charges the order's card (a stand-in for a payment provider call) and books revenue.
exports.handler = async (order, ctx) => {
  await ctx.state.set('payments', order.id, { amount: order.total, currency: order.currency, attempt: ctx.attempt });
  await ctx.state.incr('stats', 'revenue', order.total);
  await ctx.state.incr('stats', 'orders', 1);
  await ctx.streams.orders.set(order.id, 'status', { status: 'charged', total: order.total });
  await ctx.emit({
    topic: 'payment.charged',
    data: { order_id: order.id, amount: order.total, currency: order.currency },
  });
  ctx.logger.info('payment charged', { orderId: order.id, amount: order.total });
};
