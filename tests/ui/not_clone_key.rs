#[derive(Hash, PartialEq, Eq)]
struct Token(u64);

#[shardcache::memoize]
fn redeem(token: Token) -> u64 {
    token.0
}

fn main() {}
