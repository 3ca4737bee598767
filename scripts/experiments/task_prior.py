import numpy as np, pickle, json, collections, sys
D='/work/shared/toolmmbench/'
cat=[json.loads(l) for l in open(D+'catalog.jsonl')]; ids=[c['id'] for c in cat]
tasks=sorted(set(c['task'] for c in cat)); tix={t:i for i,t in enumerate(tasks)}; tool_task=np.array([tix[c['task']] for c in cat])
print(len(tasks), collections.Counter(c['task'] for c in cat).most_common(50))
z=np.load('split.npz'); Xtr,ytr,Xdv,Xte,Ec,T=[z[k] for k in ['Xtr','ytr','Xdv','Xte','Ec','T']]
trn,dev,te=pickle.load(open('split.pkl','rb'))
N=len(ids); K=len(tasks)
def acc(S,xs,k=1):
    top=np.argsort(-S,1)[:,:k]
    return np.mean([any(ids[j] in x['ans'] for j in t) for t,x in zip(top,xs)])
def softmax_train(X,y,K,epochs=30,lr=0.01,bs=256,hidden=0,seed=0):
    rng=np.random.default_rng(seed); d=X.shape[1]
    W=np.zeros((K,d),np.float32); b=np.zeros(K,np.float32)
    m=[np.zeros_like(W),np.zeros_like(b)]; v=[np.zeros_like(W),np.zeros_like(b)]; t=0
    for ep in range(epochs):
        p=rng.permutation(len(X))
        for i in range(0,len(X),bs):
            j=p[i:i+bs]; x=X[j]; L=x@W.T+b; L-=L.max(1,keepdims=True); P=np.exp(L); P/=P.sum(1,keepdims=True)
            P[np.arange(len(j)),y[j]]-=1; P/=len(j); g=[P.T@x+1e-4*W,P.sum(0)]; t+=1
            for a,gg,mm,vv in zip([W,b],g,m,v):
                mm*=0.9; mm+=0.1*gg; vv*=0.999; vv+=0.001*gg*gg; a-=lr*(mm/(1-0.9**t))/(np.sqrt(vv/(1-0.999**t))+1e-8)
    return W,b
def logsm(L): L=L-L.max(1,keepdims=True); return L-np.log(np.exp(L).sum(1,keepdims=True))
X=np.concatenate([Xtr,Ec]); y=np.concatenate([tool_task[ytr],tool_task])
W,b=softmax_train(X,y,K)
for nm,Xs,xs in [('dev',Xdv,dev),('test',Xte,te)]:
    LP=logsm(Xs@W.T+b); pt=LP.argmax(1)
    gold_ok=np.mean([tasks[p] in {cat[ids.index(a)]['task'] for a in x['ans']} for p,x in zip(pt,xs)])
    S=Xs@T.T
    print(nm,'task acc',round(gold_ok,4),'base',round(acc(S,xs),4),round(acc(S,xs,5),4))
    for lam in [0.02,0.05,0.1,0.2]:
        F=S+lam*LP[:,tool_task]; print('  lam',lam,round(acc(F,xs),4),round(acc(F,xs,5),4))
