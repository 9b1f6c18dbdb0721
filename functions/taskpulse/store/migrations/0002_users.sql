-- The e-mail address each user's issuer vouched for (the access token's `email` claim
-- with `email_verified`): where their reminders go.
CREATE TABLE users (
    id text PRIMARY KEY,
    email text NOT NULL,
    verified_at timestamptz NOT NULL
);
