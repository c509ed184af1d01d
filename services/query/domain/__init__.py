"""The query side's pure core: the queries, the read models' views, paging and each reply's Data."""
