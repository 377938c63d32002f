-- Everything downstream of the shop's orders table, with its distance (run by `make run`).
WITH RECURSIVE down(asset, depth) AS (
    SELECT 'postgres:shop.public.orders', 0
    UNION
    SELECT e.target, d.depth + 1 FROM edges e JOIN down d ON e.source = d.asset WHERE d.depth < 20)
SELECT asset AS downstream_of_shop_orders, min(depth) AS hops
FROM down WHERE depth > 0 GROUP BY asset ORDER BY hops, asset;
