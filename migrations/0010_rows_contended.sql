-- A write of pipe rows made as one statement outside a transaction (its own, committed as
-- it ends) cannot repeat itself for rows that another writer inserted after it began. It
-- stops instead: this function raises SQLSTATE MRC01, the statement is rolled back whole,
-- and the service writes those rows again in a transaction, where it may repeat.

-- migrate:up
CREATE FUNCTION mrsm_rows_contended() RETURNS int[] LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION 'pipe rows contended: another writer inserted some of them meanwhile'
        USING ERRCODE = 'MRC01';
END
$$;

-- migrate:down
DROP FUNCTION mrsm_rows_contended();
