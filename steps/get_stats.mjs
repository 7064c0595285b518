// GET /stats: revenue and order count so far, shared with the Python steps through state.
export async function handler(req, ctx) {
  const stats = await ctx.state.getGroup('stats');
  return { status: 200, body: { revenue: stats.revenue ?? 0, orders: stats.orders ?? 0 } };
}
