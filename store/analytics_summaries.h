/*
 * analytics_summaries — the summary tables that keep analytics cheap as history grows
 * (issue 9 item 3): schema.sql's audit_log triggers keep them row by row; this file checks and,
 * when needed, rebuilds them. Used by store_open (store.c) and by the readers of analytics.c,
 * so neither calls the other.
 */
#ifndef PB_ANALYTICS_SUMMARIES_H
#define PB_ANALYTICS_SUMMARIES_H

struct store;

/*
 * Make the analytics summary tables of schema.sql (analytics_routes, analytics_order_place,
 * analytics_dwell, analytics_dwell_hist) agree with the audit log: nothing when
 * analytics_summary_state says they do (one indexed read); else (a database of an earlier
 * version, or order_moved rows changed by hand) rebuild them from the whole audit log in one
 * transaction, O(order_moved rows). Called by store_open and by the two readers below.
 * 0 or PB_EINTERNAL (nothing changed). Issue 9 item 3.
 */
int analytics_summaries_ensure(struct store *s);

#endif
