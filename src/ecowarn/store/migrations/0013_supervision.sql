-- Supervision (CONTRACT section 9, 1.1): positive lists (正面清单) and random draws of
-- enterprises for remote spot checks and on-site checks (双随机, 远程执法抽查). See
-- docs/credit.md, "Supervision".

-- Positive-list entries. An entry is never removed: DELETE /positive-list/{id} sets the
-- deleted_* columns once (who, when, why) and nothing else of a row ever changes.
CREATE TABLE positive_list (
    id               bigserial   PRIMARY KEY,
    enterprise_id    text        NOT NULL,
    list             text        NOT NULL CHECK (list ~ '^[a-z][a-z0-9_]{0,31}$'),
    start_date       date        NOT NULL,              -- first day listed
    end_date         date,                              -- last day listed; NULL: until removed
    reason           text        NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    created_at       timestamptz NOT NULL DEFAULT now(),
    created_by_token bigint      REFERENCES api_tokens (id),
    created_by_role  text        NOT NULL,
    created_by_label text        NOT NULL DEFAULT '',
    deleted_at       timestamptz,
    deleted_by_token bigint      REFERENCES api_tokens (id),
    deleted_by_role  text,
    deleted_by_label text,
    delete_reason    text        CHECK (length(delete_reason) <= 2000),
    CHECK (end_date IS NULL OR end_date > start_date),
    CHECK ((deleted_at IS NULL) = (deleted_by_role IS NULL))
);
CREATE INDEX positive_list_enterprise_idx ON positive_list (enterprise_id, start_date);

CREATE FUNCTION positive_list_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL
           AND ROW(NEW.id, NEW.enterprise_id, NEW.list, NEW.start_date, NEW.end_date, NEW.reason,
                   NEW.created_at, NEW.created_by_token, NEW.created_by_role, NEW.created_by_label)
               IS NOT DISTINCT FROM
               ROW(OLD.id, OLD.enterprise_id, OLD.list, OLD.start_date, OLD.end_date, OLD.reason,
                   OLD.created_at, OLD.created_by_token, OLD.created_by_role, OLD.created_by_label)
        THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'positive_list entries are kept: % rejected', TG_OP
        USING HINT = 'remove an entry by setting deleted_at, deleted_by_* and delete_reason, once';
END
$$;

CREATE TRIGGER positive_list_kept BEFORE UPDATE OR DELETE ON positive_list
    FOR EACH ROW EXECUTE FUNCTION positive_list_guard();
CREATE TRIGGER positive_list_no_truncate BEFORE TRUNCATE ON positive_list
    FOR EACH STATEMENT EXECUTE FUNCTION positive_list_guard();

-- Draws, append-only: the inputs, the seed, every candidate with the weight it was drawn
-- with, and the selection in the order drawn, so that anyone can re-run a draw
-- (supervision/sampling.py describes the algorithm named in ``algorithm``).
CREATE TABLE supervision_draws (
    id               bigserial   PRIMARY KEY,
    region           text        CHECK (region ~ '^[0-9]{2,6}$'),   -- NULL: every region
    period           text        NOT NULL,                          -- 2026-12, 2026-Q4 or 2026
    period_start     date        NOT NULL,
    period_end       date        NOT NULL,
    kind             text        NOT NULL CHECK (kind IN ('remote', 'onsite')),
    count            integer     NOT NULL CHECK (count >= 1),
    seed             bigint      NOT NULL CHECK (seed >= 0),
    seed_given       boolean     NOT NULL,                          -- false: generated here
    algorithm        text        NOT NULL,
    reference_date   date        NOT NULL,                          -- whose positive list counted
    -- [{enterprise_id, name, region, score, level, listed, lists, weight}], by enterprise id
    candidates       jsonb       NOT NULL CHECK (jsonb_typeof(candidates) = 'array'),
    selected         text[]      NOT NULL,                          -- in the order drawn
    created_at       timestamptz NOT NULL DEFAULT now(),
    created_by_token bigint      REFERENCES api_tokens (id),
    created_by_role  text        NOT NULL,
    created_by_label text        NOT NULL DEFAULT '',
    CHECK (period_end >= period_start)
);
CREATE INDEX supervision_draws_period_idx ON supervision_draws (period_start, id);

CREATE FUNCTION supervision_draws_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'supervision_draws is append-only: % rejected', TG_OP
        USING HINT = 'a draw is never changed; make a new draw';
END
$$;

CREATE TRIGGER supervision_draws_append_only BEFORE UPDATE OR DELETE ON supervision_draws
    FOR EACH ROW EXECUTE FUNCTION supervision_draws_reject_change();
CREATE TRIGGER supervision_draws_no_truncate BEFORE TRUNCATE ON supervision_draws
    FOR EACH STATEMENT EXECUTE FUNCTION supervision_draws_reject_change();
