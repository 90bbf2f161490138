-- 0007 inbox: Luddy's multichannel inbox on the existing threads/messages/leads tables.
-- Same rules as 0001: tenant_id on every table, unique (tenant_id, id), composite foreign
-- keys, an index led by tenant_id, RLS enabled and FORCED with the tenant_isolation policy,
-- DML grants to tridium_app. See docs/inbox.md.
--
-- * channel_accounts: one provider account of a tenant (a WhatsApp phone number, an
--   Instagram account, an inbound e-mail address, a web chat widget). Secrets (tokens, app
--   secrets, verify tokens) are one Fernet token in `secrets` (tools.inbox.crypto), never
--   stored in clear and never returned in full: `secret_hints` keeps the last 4 characters.
-- * threads gain the conversation state of the inbox: the channel account, the handoff
--   status bot | pending_human | human | closed (was open | handoff | closed), assignee,
--   reason, summary, unread count and last-message data for the conversation list, and
--   the burst-merge bookkeeping (pending_since, last_inbound_at, active_run_id).
-- * inbound_deliveries: every webhook item (a message or a status callback) stored once,
--   unique on (tenant, provider, event_key) where event_key is the provider's message id
--   for messages and "<provider message id>:<status>" for status callbacks.
-- * outbound_deliveries: one row per part of an answer sent through a channel, unique on
--   (tenant, idempotency_key) with the key "run:<run id>:<part>" (or "staff:<uuid>"), so a
--   retry finds the row and never sends twice; carries the delivery status and failures.
-- * thread_notes: staff's private notes on a conversation (never sent, never in Luddy's memory).

create table channel_accounts (
    id           uuid not null default gen_random_uuid() primary key,
    tenant_id    uuid not null references tenants(id) on delete cascade,
    channel      text not null check (channel in ('whatsapp', 'instagram', 'email', 'chat')),
    provider     text not null check (provider ~ '^[a-z][a-z0-9_]{1,39}$'),
    -- The provider's id of the account: WhatsApp phone_number_id, Instagram account id,
    -- the inbound address, the widget's publishable key id.
    external_id  text not null check (length(external_id) between 1 and 255),
    name         text not null default '',
    base_url     text check (base_url ~ '^https?://'),
    config       jsonb not null default '{}'::jsonb,   -- non-secret settings (api version, display number)
    secrets      bytea not null,                       -- Fernet token of a JSON object
    secret_hints jsonb not null default '{}'::jsonb,   -- {"access_token": "…a1b2"}
    active       boolean not null default true,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    unique (tenant_id, id),
    unique (tenant_id, provider, external_id)
);
create index channel_accounts_tenant_channel_idx on channel_accounts (tenant_id, channel);

-- Threads: the inbox's conversation state. Old statuses map open → bot, handoff → pending_human.
alter table threads drop constraint threads_status_check;
update threads set status = case status when 'open' then 'bot' when 'handoff' then 'pending_human' else status end;
alter table threads alter column status set default 'bot';
alter table threads add constraint threads_status_check
    check (status in ('bot', 'pending_human', 'human', 'closed'));
alter table threads add column channel_account_id uuid;
alter table threads add foreign key (tenant_id, channel_account_id)
    references channel_accounts (tenant_id, id) on delete set null (channel_account_id);
alter table threads add column contact_name     text;
alter table threads add column assignee         text;
alter table threads add column status_reason    text;
alter table threads add column handoff_summary  text;
alter table threads add column unread_count     int not null default 0 check (unread_count >= 0);
alter table threads add column last_message_at  timestamptz;
alter table threads add column last_message_preview text;
alter table threads add column last_inbound_at  timestamptz;   -- opens the provider's reply window
alter table threads add column pending_since    timestamptz;   -- oldest inbound message not yet answered
alter table threads add column active_run_id    uuid;          -- the Luddy run answering now (burst merge)
alter table threads add column updated_at       timestamptz not null default now();
-- One thread per (channel account, contact): external_id is the contact identity (E.164
-- phone, lower-cased e-mail, platform user id). Threads without an account keep the old rule.
alter table threads drop constraint threads_tenant_id_channel_external_id_key;
create unique index threads_tenant_channel_external_idx on threads (tenant_id, channel, external_id)
    where channel_account_id is null;
create unique index threads_tenant_account_contact_idx on threads (tenant_id, channel_account_id, external_id)
    where channel_account_id is not null;
create index threads_tenant_last_message_idx on threads (tenant_id, last_message_at desc nulls last, id desc);
create index threads_tenant_status_idx on threads (tenant_id, status, last_message_at desc);

-- Messages: what the channel said about them.
alter table messages add column content_type text not null default 'text' check (content_type in
    ('text', 'image', 'audio', 'video', 'document', 'sticker', 'interactive', 'button', 'location',
     'reaction', 'contacts', 'template', 'unsupported'));
alter table messages add column media jsonb not null default '[]'::jsonb;
alter table messages add column provider_message_id text;
-- in: received; out: queued → sent → delivered → read, or failed (status_reason says why).
alter table messages add column status text check (status in ('received', 'queued', 'sent', 'delivered', 'read', 'failed'));
alter table messages add column status_reason text;
alter table messages add column status_at timestamptz;
-- Inbound burst merge: pending (waits for Luddy's next turn) → answered (turn_run_id says
-- by which run) or skipped (arrived while a person owned the conversation).
alter table messages add column turn_state text check (turn_state in ('pending', 'answered', 'skipped'));
alter table messages add column turn_run_id uuid;
create index messages_tenant_pending_idx on messages (tenant_id, thread_id, created_at)
    where turn_state = 'pending';
create index messages_tenant_provider_idx on messages (tenant_id, provider_message_id)
    where provider_message_id is not null;

create table inbound_deliveries (
    id                 uuid not null default gen_random_uuid() primary key,
    tenant_id          uuid not null references tenants(id) on delete cascade,
    channel_account_id uuid not null,
    provider           text not null,
    kind               text not null check (kind in ('message', 'status')),
    event_key          text not null check (length(event_key) between 1 and 600),
    provider_message_id text not null,
    item               jsonb not null,           -- the normalized InboundMessage / StatusUpdate
    received_at        timestamptz not null default now(),
    processed_at       timestamptz,
    outcome            text,
    message_id         uuid,
    unique (tenant_id, id),
    unique (tenant_id, provider, event_key),
    foreign key (tenant_id, channel_account_id) references channel_accounts (tenant_id, id) on delete cascade
);
create index inbound_deliveries_tenant_unprocessed_idx on inbound_deliveries (tenant_id, received_at)
    where processed_at is null;

create table outbound_deliveries (
    id                  uuid not null default gen_random_uuid() primary key,
    tenant_id           uuid not null references tenants(id) on delete cascade,
    thread_id           uuid not null,
    message_id          uuid not null,
    channel_account_id  uuid not null,
    idempotency_key     text not null check (length(idempotency_key) between 1 and 255),
    run_id              uuid,
    part                int not null default 0 check (part >= 0),
    recipient           text not null,
    content             jsonb not null,          -- the OutboundPart
    status              text not null default 'queued'
                        check (status in ('queued', 'sending', 'sent', 'delivered', 'read', 'failed')),
    status_rank         int not null default 0,
    provider_message_id text,
    attempts            int not null default 0,
    next_attempt_at     timestamptz not null default now(),
    error_code          text,
    error               text,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    sent_at             timestamptz,
    delivered_at        timestamptz,
    read_at             timestamptz,
    unique (tenant_id, id),
    unique (tenant_id, idempotency_key),
    foreign key (tenant_id, thread_id) references threads (tenant_id, id) on delete cascade,
    foreign key (tenant_id, message_id) references messages (tenant_id, id) on delete cascade,
    foreign key (tenant_id, channel_account_id) references channel_accounts (tenant_id, id) on delete cascade
);
create index outbound_deliveries_tenant_provider_idx on outbound_deliveries (tenant_id, provider_message_id)
    where provider_message_id is not null;
create index outbound_deliveries_tenant_due_idx on outbound_deliveries (tenant_id, next_attempt_at)
    where status in ('queued', 'sending');

create table thread_notes (
    id         uuid not null default gen_random_uuid() primary key,
    tenant_id  uuid not null references tenants(id) on delete cascade,
    thread_id  uuid not null,
    author     text not null,
    body       text not null check (length(body) between 1 and 4000),
    created_at timestamptz not null default now(),
    unique (tenant_id, id),
    foreign key (tenant_id, thread_id) references threads (tenant_id, id) on delete cascade
);
create index thread_notes_tenant_thread_idx on thread_notes (tenant_id, thread_id, created_at);

do $$
declare
    t text;
begin
    foreach t in array array['channel_accounts', 'inbound_deliveries', 'outbound_deliveries', 'thread_notes']
    loop
        execute format('alter table %I enable row level security', t);
        execute format('alter table %I force row level security', t);
        execute format(
            'create policy tenant_isolation on %I using (tenant_id = (select app_tenant_id())) '
            'with check (tenant_id = (select app_tenant_id()))', t);
        execute format('grant select, insert, update, delete on %I to tridium_app', t);
    end loop;
end $$;
